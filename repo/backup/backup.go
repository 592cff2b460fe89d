package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/restic/chunker"
)

// Options configure a backup.
type Options struct {
	Paths    []string
	Tags     []string
	Hostname string
	Username string
	// Time is the snapshot's time; zero means the start of the backup.
	Time time.Time
	// Parent is the snapshot whose unchanged files are not read again;
	// nil reads everything. ChooseParent picks it for a kind.
	Parent *snapshot.Snapshot
	// Kind is recorded in the snapshot (see RecordedKind).
	Kind string
	// Readers is the number of files read at once; zero means
	// GOMAXPROCS+2.
	Readers     int
	Compression pack.Compression
	// Progress, if not nil, is updated while the backup runs.
	Progress *Progress
	// Warn, if not nil, is called for each entry that was skipped or read
	// inconsistently.
	Warn func(path string, err error)
	// Report, if not nil, is called (from several goroutines) with what
	// happened to each file and directory stored.
	Report func(Item)
	// CheckpointInterval overrides repo.DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	Program            string
	// Excludes chooses what is left out.
	Excludes Excludes
	// Scan counts the files and bytes to back up in a concurrent walk,
	// for progress totals.
	Scan bool
	// WithAtime stores files' access times. Without it (the default, as
	// in restic) a restore sets a file's access time to its mtime.
	WithAtime bool
	// DryRun reads, deduplicates and compresses as usual but writes
	// nothing: the returned snapshot (with a zero ID) is not saved and its
	// summary says what would have been added.
	DryRun bool
}

// Item is what a backup did with one file or directory, restic's
// verbose_status.
type Item struct {
	Action   string // ActionNew, ActionModified or ActionUnchanged
	Path     string // a directory's ends in "/"
	Dir      bool
	Duration time.Duration // from when the file was opened, or the directory listed
	// DataAdded and DataStored are the plaintext and stored bytes of the
	// file's new data blobs; MetaSize and MetaStored the size of a
	// directory's tree and what it added to the repository.
	DataAdded, DataStored, MetaSize, MetaStored int64
}

// Item actions.
const (
	ActionNew       = "new"
	ActionModified  = "modified"
	ActionUnchanged = "unchanged"
)

func (a *archiver) report(it Item) {
	if a.opts.Report != nil {
		a.opts.Report(it)
	}
}

// Progress is updated atomically during a backup.
type Progress struct {
	Files     atomic.Int64 // files done
	Dirs      atomic.Int64
	Bytes     atomic.Int64 // bytes of files done, read or reused
	BytesRead atomic.Int64
	Errors    atomic.Int64
	Added     atomic.Int64 // plaintext bytes of new blobs
	Excluded  atomic.Int64 // entries left out by excludes
	// TotalFiles and TotalBytes are counted by a scan running ahead of
	// the backup (Options.Scan); ScanDone says they are final.
	TotalFiles atomic.Int64
	TotalBytes atomic.Int64
	ScanDone   atomic.Bool
	mu         sync.Mutex
	current    map[string]struct{}
}

// Current returns the files being read now.
func (p *Progress) Current() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.current))
	for f := range p.current {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func (p *Progress) start(path string) {
	p.mu.Lock()
	if p.current == nil {
		p.current = map[string]struct{}{}
	}
	p.current[path] = struct{}{}
	p.mu.Unlock()
}

func (p *Progress) done(path string) {
	p.mu.Lock()
	delete(p.current, path)
	p.mu.Unlock()
}

// testHookRead, if set by a test, runs when a file was opened and
// stat'ed, before it is read.
var testHookRead func(path string)

// testHookWalk, if set by a test, runs when the walk has stat'ed a file,
// before it hands the file to a reader.
var testHookWalk func(path string)

// ErrPartial is returned with a saved snapshot when some entries could not
// be read; the snapshot's summary lists them.
var ErrPartial = errors.New("backup: some files could not be read")

type future struct {
	done chan struct{}
	node tree.Node
	ok   bool // false: the entry was skipped
}

func newFuture() *future { return &future{done: make(chan struct{})} }

func doneFuture(n tree.Node) *future {
	f := &future{done: make(chan struct{}), node: n, ok: true}
	close(f.done)
	return f
}

type fileJob struct {
	path   string
	action string // ActionNew or ActionModified, for Report
	fut    *future
}

type devIno struct{ dev, ino uint64 }

type archiver struct {
	ctx   context.Context
	r     *repo.Repository
	w     *repo.Writer
	opts  Options
	cfg   repo.Config
	names *names
	prog  *Progress

	jobs  chan fileJob
	trees chan *pack.Compressor // a bounded set for tree blobs, also limiting concurrent tree saves
	// big holds the buffers for chunking files of ChunkMin bytes or more:
	// one set per core, so many readers can open small files at once
	// while the memory for up to 8 MiB chunks stays bounded.
	big chan *bigBuffers

	scanStop atomic.Bool

	linksMu sync.Mutex
	links   map[devIno]*future

	errMu                                   sync.Mutex
	errs                                    []string
	changed                                 []string
	fatal                                   error
	filesNew, filesChanged, filesUnmodified atomic.Int64
	dirsNew, dirsChanged, dirsUnmodified    atomic.Int64
	treeBlobs                               atomic.Int64
}

// Run backs up opts.Paths into r and saves a snapshot. If some entries
// could not be read, the snapshot is saved and the error wraps ErrPartial.
// If the backup fails or ctx is cancelled, no snapshot is saved; packs
// already uploaded are indexed so that the next run reuses them.
func Run(ctx context.Context, r *repo.Repository, opts Options) (*snapshot.Snapshot, error) {
	start := time.Now()
	if len(opts.Paths) == 0 {
		return nil, errors.New("backup: no paths given")
	}
	paths, err := CleanPaths(opts.Paths)
	if err != nil {
		return nil, err
	}
	if err := checkPaths(paths); err != nil {
		return nil, err
	}
	if opts.Readers <= 0 {
		opts.Readers = runtime.GOMAXPROCS(0) + 2
	}
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	if err := recoverPacks(ctx, r, opts); err != nil {
		return nil, err
	}
	a := newArchiver(ctx, r, opts)
	w := a.w
	a.trees = make(chan *pack.Compressor, runtime.GOMAXPROCS(0))
	for range cap(a.trees) {
		a.trees <- w.NewCompressor()
	}
	a.big = make(chan *bigBuffers, min(runtime.GOMAXPROCS(0), opts.Readers))
	for range cap(a.big) {
		a.big <- &bigBuffers{
			ch:   chunker.NewWithBoundaries(nil, a.cfg.ChunkerPolynomial, a.cfg.ChunkMin, a.cfg.ChunkMax),
			comp: w.NewCompressor(),
		}
	}

	var oldRoot *tree.Tree
	if opts.Parent != nil {
		oldRoot = a.loadTree("/", opts.Parent.Tree)
		if err := ctx.Err(); err != nil {
			w.Close()
			return nil, err
		}
	}

	var workers sync.WaitGroup
	for range opts.Readers {
		workers.Go(a.worker)
	}
	if opts.Scan {
		go a.scan(paths)
		defer a.scanStop.Store(true)
	}
	rootFut := a.walkRoot(paths, oldRoot)
	close(a.jobs)
	workers.Wait()
	<-rootFut.done

	if err := a.fatalErr(); err != nil {
		w.Close()
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		w.Close()
		return nil, err
	}
	if !rootFut.ok {
		w.Close()
		return nil, fmt.Errorf("backup: none of %s could be read", strings.Join(paths, ", "))
	}
	return a.commit(start, paths, rootFut.node.Subtree)
}

// commit flushes the session and saves the snapshot of root.
func (a *archiver) commit(start time.Time, paths []string, root crypto.ID) (*snapshot.Snapshot, error) {
	ctx, r, w, opts := a.ctx, a.r, a.w, a.opts
	if err := w.Flush(); err != nil {
		w.Close()
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	ws := w.Stats()
	end := time.Now()
	snTime := opts.Time
	if snTime.IsZero() {
		snTime = start
	}
	sn := &snapshot.Snapshot{
		Time: snTime, Hostname: opts.Hostname, Username: opts.Username,
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid()),
		Paths: paths, Tags: opts.Tags, Excludes: opts.Excludes.Given, Tree: root, Kind: RecordedKind(opts.Kind, opts.Parent), Program: opts.Program,
		Summary: &snapshot.Summary{
			BackupStart: start, BackupEnd: end,
			FilesNew: a.filesNew.Load(), FilesChanged: a.filesChanged.Load(), FilesUnmodified: a.filesUnmodified.Load(),
			DirsNew: a.dirsNew.Load(), DirsChanged: a.dirsChanged.Load(), DirsUnmodified: a.dirsUnmodified.Load(),
			DataBlobs: ws.Blobs - a.treeBlobs.Load(), TreeBlobs: a.treeBlobs.Load(),
			DataAdded: ws.RawBytes, DataAddedPacked: ws.StoredBytes,
			TotalFilesProcessed: a.prog.Files.Load(), TotalBytesProcessed: a.prog.Bytes.Load(),
			BytesRead: a.prog.BytesRead.Load(),
			Errors:    a.errs, ChangedWhileRead: a.changed,
		},
	}
	if opts.Parent != nil {
		id := opts.Parent.ID
		sn.Parent = &id
	}
	if opts.DryRun {
		sn.ID = crypto.ID{}
	} else if _, err := snapshot.Save(context.WithoutCancel(ctx), r, sn); err != nil {
		return nil, fmt.Errorf("backup: save snapshot: %w", err)
	}
	if len(a.errs) > 0 {
		return sn, fmt.Errorf("%w: %d entries skipped", ErrPartial, len(a.errs))
	}
	return sn, nil
}

func newArchiver(ctx context.Context, r *repo.Repository, opts Options) *archiver {
	w := r.NewWriter(ctx, repo.WriterOptions{Compression: opts.Compression, CheckpointInterval: opts.CheckpointInterval, DryRun: opts.DryRun})
	return &archiver{
		ctx: ctx, r: r, w: w, opts: opts, cfg: r.Config(), names: newNames(), prog: opts.Progress,
		jobs: make(chan fileJob), links: map[devIno]*future{},
	}
}

// recoverPacks compares the repository's packs with the index (repo.SyncPacks:
// lost or damaged packs leave deduplication, packs an interrupted session
// left are indexed), unless this is a dry run, which writes nothing.
func recoverPacks(ctx context.Context, r *repo.Repository, opts Options) error {
	if opts.DryRun {
		return nil
	}
	return r.SyncPacks(ctx)
}

// ErrPathMissing is wrapped when a path given to back up does not exist or
// cannot be read at all: nothing is backed up.
var ErrPathMissing = errors.New("backup: path to back up cannot be read")

// checkPaths makes sure every path given exists and can be read (a
// directory listed, a file opened), before anything is stored.
func checkPaths(paths []string) error {
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err == nil && (fi.IsDir() || fi.Mode().IsRegular()) {
			var f *os.File
			if f, err = openNoatime(p); err == nil {
				if fi.IsDir() {
					_, err = f.Readdirnames(1)
					if errors.Is(err, io.EOF) {
						err = nil
					}
				}
				f.Close()
			}
		}
		if err != nil {
			cause := err
			if u := errors.Unwrap(err); u != nil {
				cause = u
			}
			return fmt.Errorf("%w: %s: %v; nothing was backed up", ErrPathMissing, p, cause)
		}
	}
	return nil
}

// CleanPaths makes paths absolute and clean, sorts them and drops paths
// inside others.
func CleanPaths(in []string) ([]string, error) {
	var out []string
	for _, p := range in {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("backup: %s: %w", p, err)
		}
		out = append(out, abs)
	}
	sort.Strings(out)
	out = slices.Compact(out)
	var kept []string
	for _, p := range out {
		nested := false
		for _, k := range kept {
			if k == "/" || strings.HasPrefix(p, k+"/") {
				nested = true
				break
			}
		}
		if !nested {
			kept = append(kept, p)
		}
	}
	return kept, nil
}

func (a *archiver) skip(path string, err error) {
	// A *PathError already names the path: record its cause.
	cause := err
	if u := errors.Unwrap(err); u != nil {
		cause = u
	}
	a.errMu.Lock()
	a.errs = append(a.errs, fmt.Sprintf("%s: %v", path, cause))
	a.errMu.Unlock()
	a.prog.Errors.Add(1)
	a.warn(path, err)
}

func (a *archiver) warn(path string, err error) {
	if a.opts.Warn != nil {
		a.opts.Warn(path, err)
	}
}

func (a *archiver) setFatal(err error) {
	a.errMu.Lock()
	if a.fatal == nil {
		a.fatal = err
	}
	a.errMu.Unlock()
}

func (a *archiver) fatalErr() error {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.fatal
}

func (a *archiver) stopped() bool { return a.ctx.Err() != nil || a.fatalErr() != nil }

// vdir is a directory on the way to the backup paths.
type vdir struct {
	children map[string]*vdir
	target   bool
}

func (a *archiver) walkRoot(paths []string, oldRoot *tree.Tree) *future {
	root := &vdir{children: map[string]*vdir{}}
	for _, p := range paths {
		v := root
		if p != "/" {
			for _, elem := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
				c, ok := v.children[elem]
				if !ok {
					c = &vdir{children: map[string]*vdir{}}
					v.children[elem] = c
				}
				v = c
			}
		}
		v.target = true
	}
	if root.target {
		fi, err := os.Lstat("/")
		if err != nil {
			a.skip("/", err)
			return doneFuture(tree.Node{})
		}
		var old *tree.Node
		if oldRoot != nil {
			old = &tree.Node{Type: tree.Dir, Subtree: a.opts.Parent.Tree}
		}
		n := a.nodeFromStat("/", fi)
		return a.walkDir("/", n, old, oldRoot, n.Device, a.newIgnorer(nil, "/"), false)
	}
	var old *tree.Node
	if oldRoot != nil {
		old = &tree.Node{Type: tree.Dir, Subtree: a.opts.Parent.Tree}
	}
	return a.walkVirtual("/", tree.Node{Name: "/", Type: tree.Dir}, root, old, oldRoot)
}

// walkVirtual stores an intermediate directory holding only the children
// on the way to backup paths.
func (a *archiver) walkVirtual(path string, node tree.Node, v *vdir, old *tree.Node, oldTree *tree.Tree) *future {
	names := make([]string, 0, len(v.children))
	for name := range v.children {
		names = append(names, name)
	}
	sort.Strings(names)
	var children []*future
	for _, name := range names {
		c := v.children[name]
		p := filepath.Join(path, name)
		var oldNode *tree.Node
		if oldTree != nil {
			if n, ok := oldTree.Find(name); ok {
				oldNode = n
			}
		}
		if c.target {
			if f := a.walkEntry(p, name, oldNode, 0, a.ancestorIgnorer(path)); f != nil {
				children = append(children, f)
			}
			continue
		}
		fi, err := os.Lstat(p)
		if err != nil {
			a.skip(p, err)
			continue
		}
		if !fi.IsDir() {
			a.skip(p, fmt.Errorf("not a directory"))
			continue
		}
		n := a.nodeFromStat(name, fi)
		var oldSub *tree.Tree
		if oldNode != nil && oldNode.Type == tree.Dir {
			oldSub = a.loadTree(p, oldNode.Subtree)
		} else {
			oldNode = nil
		}
		children = append(children, a.walkVirtual(p, n, c, oldNode, oldSub))
	}
	return a.finishDir(path, node, old, children, false)
}

func (a *archiver) loadTree(path string, id crypto.ID) *tree.Tree {
	t, err := tree.Load(a.ctx, a.r, id)
	if err != nil {
		a.warn(path, fmt.Errorf("parent snapshot's tree cannot be read, reading all files again: %w", err))
		return nil
	}
	return t
}

// walkEntry stats one entry and starts storing it. It returns nil if the
// entry is skipped. rootDev is the device of the backup path the entry is
// under (0 for a backup path itself); ign holds the .gitignore rules in
// force, if any.
func (a *archiver) walkEntry(path, name string, old *tree.Node, rootDev uint64, ign *ignorer) *future {
	if a.stopped() {
		return nil
	}
	fi, err := os.Lstat(path)
	if err != nil {
		a.skip(path, err)
		return nil
	}
	node := a.nodeFromStat(name, fi)
	if rootDev == 0 {
		rootDev = node.Device
	}
	d := a.decide(path, &node, rootDev, ign)
	if d == skipEntry {
		a.prog.Excluded.Add(1)
		return nil
	}
	if old != nil && old.Type == node.Type && old.ChangeTime == node.ChangeTime && old.Inode == node.Inode {
		// Setting an xattr changes ctime: with ctime unchanged the parent's
		// xattrs are current, and listing them again is a wasted syscall.
		node.Xattrs = old.Xattrs
	} else if x, err := readXattrs(path); err != nil {
		a.warn(path, err)
	} else {
		node.Xattrs = x
	}
	switch node.Type {
	case tree.Dir:
		if d == keepNoWalk {
			return a.finishDir(path, node, old, nil, false)
		}
		var oldTree *tree.Tree
		if old != nil && old.Type == tree.Dir {
			oldTree = a.loadTree(path, old.Subtree)
		}
		return a.walkDir(path, node, old, oldTree, rootDev, a.newIgnorer(ign, path), d == walkInside)
	case tree.File:
		return a.walkFile(path, node, old)
	case tree.Symlink:
		target, err := os.Readlink(path)
		if err != nil {
			a.skip(path, err)
			return nil
		}
		node.LinkTarget = target
	}
	return doneFuture(node) // not counted as a file, as in restic
}

// walkDir stores a directory. onlyIncluded is set for a directory that is
// excluded but may hold re-included entries: it is kept only if one is.
func (a *archiver) walkDir(path string, node tree.Node, old *tree.Node, oldTree *tree.Tree, rootDev uint64, ign *ignorer, onlyIncluded bool) *future {
	f, err := openNoatime(path)
	if err != nil {
		a.skip(path, err)
		return nil
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		a.skip(path, err)
		return nil
	}
	sort.Strings(names)
	children := make([]*future, 0, len(names))
	for _, name := range names {
		var oldNode *tree.Node
		if oldTree != nil {
			if n, ok := oldTree.Find(name); ok {
				oldNode = n
			}
		}
		if c := a.walkEntry(filepath.Join(path, name), name, oldNode, rootDev, ign); c != nil {
			children = append(children, c)
		}
	}
	return a.finishDir(path, node, old, children, onlyIncluded)
}

// finishDir waits for the children in the background, then stores the
// directory's tree. With dropIfEmpty, a directory left with no children is
// skipped.
func (a *archiver) finishDir(path string, node tree.Node, old *tree.Node, children []*future, dropIfEmpty bool) *future {
	fut := newFuture()
	start := time.Now()
	go func() {
		defer close(fut.done)
		t := &tree.Tree{Nodes: make([]tree.Node, 0, len(children))}
		for _, c := range children {
			<-c.done
			if c.ok {
				t.Nodes = append(t.Nodes, c.node)
			}
		}
		if a.stopped() || dropIfEmpty && len(t.Nodes) == 0 {
			return
		}
		comp := <-a.trees
		id, saved, err := tree.Save(a.w, t, comp)
		a.trees <- comp
		if err != nil {
			a.setFatal(fmt.Errorf("backup: %s: %w", path, err))
			return
		}
		if saved.Stored > 0 {
			a.treeBlobs.Add(1)
		}
		it := Item{Path: strings.TrimSuffix(path, "/") + "/", Dir: true, Duration: time.Since(start),
			MetaSize: int64(saved.Size), MetaStored: int64(saved.Stored)}
		switch {
		case old == nil:
			a.dirsNew.Add(1)
			it.Action = ActionNew
		case old.Subtree == id:
			a.dirsUnmodified.Add(1)
			it = Item{Action: ActionUnchanged, Path: it.Path, Dir: true}
		default:
			a.dirsChanged.Add(1)
			it.Action = ActionModified
		}
		a.report(it)
		a.prog.Dirs.Add(1)
		node.Subtree = id
		fut.node, fut.ok = node, true
	}()
	return fut
}

func unchanged(old *tree.Node, n *tree.Node) bool {
	return old != nil && old.Type == tree.File && old.Size == n.Size && old.ModTime == n.ModTime &&
		old.ChangeTime == n.ChangeTime && old.Inode == n.Inode && (len(old.Content) > 0 || old.Size == 0)
}

func (a *archiver) walkFile(path string, node tree.Node, old *tree.Node) *future {
	if testHookWalk != nil {
		testHookWalk(path)
	}
	if unchanged(old, &node) && a.haveAll(old.Content) {
		node.Content = old.Content
		a.filesUnmodified.Add(1)
		a.prog.Files.Add(1)
		a.prog.Bytes.Add(int64(node.Size))
		a.report(Item{Action: ActionUnchanged, Path: path})
		return doneFuture(node)
	}
	action := ActionNew
	if old != nil {
		a.filesChanged.Add(1)
		action = ActionModified
	} else {
		a.filesNew.Add(1)
	}
	if node.Links > 1 {
		key := devIno{node.Device, node.Inode}
		a.linksMu.Lock()
		first, ok := a.links[key]
		if !ok {
			first = newFuture()
			a.links[key] = first
		}
		a.linksMu.Unlock()
		if ok {
			// Another name of a file already being read: share its content.
			fut := newFuture()
			go func() {
				defer close(fut.done)
				<-first.done
				if !first.ok {
					return
				}
				node.Content, node.Size = first.node.Content, first.node.Size
				fut.node, fut.ok = node, true
				a.prog.Files.Add(1)
				a.report(Item{Action: action, Path: path})
			}()
			return fut
		}
		first.node = node
		a.submit(path, action, first)
		return first
	}
	fut := newFuture()
	fut.node = node
	a.submit(path, action, fut)
	return fut
}

func (a *archiver) submit(path, action string, fut *future) {
	select {
	case a.jobs <- fileJob{path: path, action: action, fut: fut}:
	case <-a.ctx.Done():
		close(fut.done)
	}
}

func (a *archiver) haveAll(ids []crypto.ID) bool {
	for _, id := range ids {
		ok, err := a.w.Has(pack.DataBlob, id)
		if err != nil || !ok {
			return false
		}
	}
	return true
}

// worker reads files. It keeps its own buffer, hasher and compressor for
// small files for the whole backup.
type worker struct {
	buf  []byte
	h    *crypto.IDHasher
	comp *pack.Compressor
}

// bigBuffers chunk one large file at a time.
type bigBuffers struct {
	ch   *chunker.Chunker
	buf  []byte
	comp *pack.Compressor
}

func (a *archiver) worker() {
	wk := &worker{
		buf:  make([]byte, 0, 64<<10),
		h:    a.r.Key().NewIDHasher(),
		comp: a.w.NewCompressor(),
	}
	for job := range a.jobs {
		if !a.stopped() {
			a.prog.start(job.path)
			start := time.Now()
			ok, added, stored := a.readFile(wk, job.path, &job.fut.node)
			a.prog.done(job.path)
			job.fut.ok = ok
			if ok {
				a.prog.Files.Add(1)
				a.report(Item{Action: job.action, Path: job.path, Duration: time.Since(start), DataAdded: added, DataStored: stored})
			}
		}
		close(job.fut.done)
	}
}

// readFile stores the content of path into node. It returns false if the
// file was skipped, and the plaintext and stored bytes of the new blobs.
func (a *archiver) readFile(wk *worker, path string, node *tree.Node) (ok bool, added, stored int64) {
	f, err := openNoatime(path)
	if err != nil {
		a.skip(path, err)
		return false, added, stored
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		a.skip(path, err)
		return false, added, stored
	}
	ino, size, mtime, _ := statIdentity(fi)
	if !fi.Mode().IsRegular() || ino != node.Inode {
		a.skip(path, fmt.Errorf("replaced by another file while being backed up"))
		return false, added, stored
	}
	if testHookRead != nil {
		testHookRead(path)
	}
	var content []crypto.ID
	var read int64
	comp := wk.comp
	save := func(data []byte) bool {
		id := wk.h.Sum(data)
		n := len(data)
		st, err := a.w.SaveBlob(pack.DataBlob, id, data, comp)
		if err != nil {
			a.setFatal(fmt.Errorf("backup: %s: %w", path, err))
			return false
		}
		if st > 0 {
			a.prog.Added.Add(int64(n))
			added += int64(n)
			stored += int64(st)
		}
		content = append(content, id)
		read += int64(n)
		a.prog.Bytes.Add(int64(n))
		a.prog.BytesRead.Add(int64(n))
		return true
	}
	if size < int64(a.cfg.ChunkMin) {
		// Small files are one chunk: skip the chunker.
		if int64(cap(wk.buf)) < size+1+crypto.TagSize {
			wk.buf = make([]byte, 0, size+1+crypto.TagSize)
		}
		n, err := io.ReadFull(f, wk.buf[:size+1])
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			a.skip(path, err)
			return false, added, stored
		}
		if int64(n) <= size {
			if n > 0 && !save(wk.buf[:n]) {
				return false, added, stored
			}
			return a.finishFile(path, f, node, content, read, size, mtime), added, stored
		}
		// The file grew past its stat size: chunk it from the start.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			a.skip(path, err)
			return false, added, stored
		}
	}
	var bb *bigBuffers
	select {
	case bb = <-a.big:
	case <-a.ctx.Done():
		return false, added, stored
	}
	defer func() { a.big <- bb }()
	comp = bb.comp
	bb.ch.ResetWithBoundaries(f, a.cfg.ChunkerPolynomial, a.cfg.ChunkMin, a.cfg.ChunkMax)
	bb.ch.SetAverageBits(a.cfg.ChunkAvgBits)
	for {
		if a.stopped() {
			return false, added, stored
		}
		c, err := bb.ch.Next(bb.buf[:0])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			a.skip(path, err)
			return false, added, stored
		}
		bb.buf = c.Data[:0]
		if !save(c.Data) {
			return false, added, stored
		}
	}
	return a.finishFile(path, f, node, content, read, size, mtime), added, stored
}

func (a *archiver) finishFile(path string, f *os.File, node *tree.Node, content []crypto.ID, read, size, mtime int64) bool {
	if fi, err := f.Stat(); err == nil {
		_, size2, mtime2, _ := statIdentity(fi)
		if size2 != size || mtime2 != mtime || read != size {
			a.errMu.Lock()
			a.changed = append(a.changed, path)
			a.errMu.Unlock()
			a.warn(path, fmt.Errorf("file changed while being read (size %d -> %d, %d bytes read)", size, size2, read))
		}
	}
	node.Content = content
	node.Size = uint64(read)
	return true
}
