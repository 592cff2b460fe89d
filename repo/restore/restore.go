package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/filter"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// Overwrite says what to do with a file that already exists in the target.
type Overwrite string

// Overwrite modes.
const (
	// OverwriteIfChanged (the default) leaves a file whose content already
	// matches (same size and mtime, or the same blobs when hashed) and
	// only fixes its metadata; other files are replaced, reusing the parts
	// that match.
	OverwriteIfChanged Overwrite = "if-changed"
	OverwriteAlways    Overwrite = "always"
	// OverwriteIfNewer replaces a file only if the snapshot's is newer.
	OverwriteIfNewer Overwrite = "if-newer"
	OverwriteNever   Overwrite = "never"
)

// ParseOverwrite checks a mode's name.
func ParseOverwrite(s string) (Overwrite, error) {
	switch o := Overwrite(s); o {
	case OverwriteIfChanged, OverwriteAlways, OverwriteIfNewer, OverwriteNever:
		return o, nil
	}
	return "", fmt.Errorf("restore: unknown overwrite mode %q (want always, if-changed, if-newer or never)", s)
}

// Action is what a restore does (or, in a dry run, would do) to an entry.
type Action string

// Actions.
const (
	ActionRestore   Action = "restore"   // created: nothing was there
	ActionUpdate    Action = "update"    // replaced what was there
	ActionUnchanged Action = "unchanged" // already there (metadata fixed)
	ActionSkip      Action = "skip"      // left as it is, by the overwrite mode
	ActionDelete    Action = "delete"    // not in the snapshot (--delete)
)

// Options configure a restore.
type Options struct {
	Target string
	// Root is the path inside the snapshot to restore: a directory's
	// contents go into Target, a file or other entry into Target under its
	// name. Empty means the whole snapshot.
	Root string
	// Include, if not empty, restores only what it matches (and what is
	// inside matched directories); Exclude leaves out what it matches.
	// Both match absolute paths inside the snapshot (docs/filters.md).
	Include, Exclude *filter.List
	Overwrite        Overwrite // empty means OverwriteIfChanged
	// Delete removes entries of the target that the snapshot does not
	// have, in the directories the restore selects whole.
	Delete bool
	// DryRun decides and reports everything, and writes nothing.
	DryRun bool
	// Verify reads every restored file back and checks it against its
	// blob IDs.
	Verify bool
	// NumericOwner restores the stored numeric IDs, not the IDs the user
	// and group names have on this system.
	NumericOwner bool
	// Workers is the number of packs read at once; zero means 4.
	Workers int
	// Warn, if not nil, is called for each entry that could not be
	// restored completely.
	Warn func(path string, err error)
	// Report, if not nil, is called with what happens to each entry
	// (directories only when they are created or deleted).
	Report func(a Action, path string)
	// Progress, if not nil, is updated while the restore runs.
	Progress *Progress
}

// Progress is updated atomically.
type Progress struct {
	Files     atomic.Int64 // entries restored or updated
	Unchanged atomic.Int64 // entries already in place
	Skipped   atomic.Int64 // entries left alone by the overwrite mode
	Deleted   atomic.Int64
	Bytes     atomic.Int64 // bytes of file content written or left as holes
	BytesRead atomic.Int64 // bytes read from the repository
	Verified  atomic.Int64 // files read back and checked
	Errors    atomic.Int64
}

// ErrIncomplete is returned when some entries could not be restored.
var ErrIncomplete = errors.New("restore: some entries were not restored")

// batch limits: a batch is executed when it plans this many files or blob
// writes, which bounds memory whatever the snapshot's size.
var (
	batchFiles  = 20000
	batchWrites = 200000
)

type fileState struct {
	path      string // final path
	tmp       string
	node      *tree.Node
	remaining atomic.Int64
	mu        sync.Mutex
	f         *os.File
	created   bool
	resume    bool // tmp holds data to keep: open it without truncating
	failed    atomic.Bool
}

type write struct {
	file   *fileState
	offset int64
}

type blobWrites struct {
	entry  pack.Entry
	writes []write
}

type verifyItem struct {
	path string
	node *tree.Node
}

type restorer struct {
	ctx   context.Context
	r     *repo.Repository
	opts  Options
	prog  *Progress
	owner bool
	names *owners

	files  []*fileState
	packs  map[crypto.ID]map[crypto.ID]*blobWrites // pack -> blob -> writes
	nwrite int
	verify []verifyItem

	links map[[2]uint64]string // (device, inode) of the snapshot's file -> restored path
	later []hardlink
	dirs  []*dirMeta // in walk order; finalized once walked and flushed

	errCount atomic.Int64
}

type hardlink struct {
	path, target string
	node         *tree.Node
}

type dirMeta struct {
	path string
	node tree.Node
	done bool // its walk has finished
}

// Run restores snapshot sn (or opts.Root in it) into opts.Target.
func Run(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, opts Options) error {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	if opts.Overwrite == "" {
		opts.Overwrite = OverwriteIfChanged
	}
	if _, err := ParseOverwrite(string(opts.Overwrite)); err != nil {
		return err
	}
	if opts.Target == "" {
		return errors.New("restore: no target directory")
	}
	root := path.Clean("/" + opts.Root)
	node, err := tree.Lookup(ctx, r, sn.Tree, root)
	if err != nil {
		return fmt.Errorf("restore: %s in snapshot %s: %w", root, sn.ID.Short(), err)
	}
	if !opts.DryRun {
		if err := os.MkdirAll(opts.Target, 0o700); err != nil {
			return fmt.Errorf("restore: target %s: %w", opts.Target, err)
		}
		if err := unix.Access(opts.Target, unix.W_OK); err != nil {
			return fmt.Errorf("restore: target %s is not writable: %w", opts.Target, err)
		}
	}
	rs := &restorer{
		ctx: ctx, r: r, opts: opts, prog: opts.Progress, owner: os.Geteuid() == 0,
		names: &owners{users: map[string]int{}, groups: map[string]int{}},
		packs: map[crypto.ID]map[crypto.ID]*blobWrites{}, links: map[[2]uint64]string{},
	}
	if node.Type == tree.Dir {
		err = rs.walk(node.Subtree, opts.Target, root, rs.opts.Include.Empty())
	} else {
		err = rs.entry(node, filepath.Join(opts.Target, node.Name))
	}
	if err == nil {
		err = rs.flush()
	}
	if err != nil {
		return err
	}
	if n := rs.errCount.Load(); n > 0 {
		return fmt.Errorf("%w: %d errors", ErrIncomplete, n)
	}
	return nil
}

func (rs *restorer) fail(path string, err error) {
	rs.errCount.Add(1)
	rs.prog.Errors.Add(1)
	if rs.opts.Warn != nil {
		rs.opts.Warn(path, err)
	}
}

// report counts and reports what happens to an entry that is not a
// directory being created (see reportNewDir).
func (rs *restorer) report(a Action, path string) {
	switch a {
	case ActionRestore, ActionUpdate:
		rs.prog.Files.Add(1)
	case ActionUnchanged:
		rs.prog.Unchanged.Add(1)
	case ActionSkip:
		rs.prog.Skipped.Add(1)
	case ActionDelete:
		rs.prog.Deleted.Add(1)
	}
	if rs.opts.Report != nil {
		rs.opts.Report(a, path)
	}
}

// reportNewDir reports a directory that is created; directories are not
// counted as files.
func (rs *restorer) reportNewDir(path string) {
	if rs.opts.Report != nil {
		rs.opts.Report(ActionRestore, path+"/")
	}
}

// walk restores the entries of tree id into dir; sdir is the directory's
// path in the snapshot. whole says the directory is selected entirely
// (not only for some included entries inside it), which --delete needs.
func (rs *restorer) walk(id crypto.ID, dir, sdir string, whole bool) error {
	if err := rs.ctx.Err(); err != nil {
		return err
	}
	t, err := tree.Load(rs.ctx, rs.r, id)
	if err != nil {
		return fmt.Errorf("restore: %s: %w", dir, err)
	}
	if rs.opts.Delete && whole {
		rs.deleteExtra(dir, sdir, t)
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		tpath := filepath.Join(dir, n.Name)
		if !tree.ValidName(n.Name) {
			rs.fail(tpath, errors.New("invalid name in snapshot"))
			continue
		}
		spath := path.Join(sdir, n.Name)
		if rs.opts.Exclude.Match(spath) {
			continue
		}
		included := rs.opts.Include.Empty() || rs.opts.Include.Match(spath)
		if n.Type == tree.Dir {
			if !included && !rs.opts.Include.MayMatchBelow(spath) {
				continue
			}
			if err := rs.dir(n, tpath, spath, included); err != nil {
				return err
			}
			continue
		}
		if !included {
			continue
		}
		if err := rs.entry(n, tpath); err != nil {
			return err
		}
		if len(rs.files) >= batchFiles || rs.nwrite >= batchWrites {
			if err := rs.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// dir restores a directory and walks into it.
func (rs *restorer) dir(n *tree.Node, tpath, spath string, whole bool) error {
	fi, err := os.Lstat(tpath)
	switch {
	case err == nil && !fi.IsDir():
		rs.fail(tpath, errors.New("a file that is not a directory is in the way"))
		return nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		rs.fail(tpath, err)
		return nil
	case err != nil:
		rs.reportNewDir(tpath)
		if !rs.opts.DryRun {
			if err := mkdir(tpath); err != nil {
				rs.fail(tpath, err)
				return nil
			}
		}
	}
	var d *dirMeta
	if !rs.opts.DryRun {
		d = &dirMeta{path: tpath, node: *n}
		rs.dirs = append(rs.dirs, d)
	}
	err = rs.walk(n.Subtree, tpath, spath, whole)
	if d != nil {
		d.done = true
	}
	return err
}

// finalize runs after a batch is written: it makes the hard links whose
// targets now exist and applies the metadata of the directories that were
// walked completely, deepest first (their mtimes must come after their
// contents). Directories still being walked, the ancestors of where the
// walk is, stay; so memory holds one path's worth of directories, not the
// snapshot's.
func (rs *restorer) finalize() {
	for _, l := range rs.later {
		rs.link(l)
	}
	rs.later = nil
	kept := rs.dirs[:0]
	for i := len(rs.dirs) - 1; i >= 0; i-- {
		d := rs.dirs[i]
		if !d.done {
			continue
		}
		fi, err := os.Lstat(d.path)
		if err == nil {
			err = rs.fixMeta(d.path, &d.node, fi)
		}
		if err != nil {
			rs.fail(d.path, err)
		}
	}
	for _, d := range rs.dirs {
		if !d.done {
			kept = append(kept, d)
		}
	}
	clear(rs.dirs[len(kept):])
	rs.dirs = kept
}

// entry restores one entry that is not a directory.
func (rs *restorer) entry(n *tree.Node, tpath string) error {
	switch n.Type {
	case tree.File:
		if n.Links > 1 {
			key := [2]uint64{n.Device, n.Inode}
			if first, ok := rs.links[key]; ok {
				rs.later = append(rs.later, hardlink{path: tpath, target: first, node: n})
				return nil
			}
			rs.links[key] = tpath
		}
		return rs.file(n, tpath)
	}
	rs.special(tpath, n)
	return nil
}

// deleteExtra removes the entries of dir that tree t does not have.
func (rs *restorer) deleteExtra(dir, sdir string, t *tree.Tree) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			rs.fail(dir, err)
		}
		return
	}
	for _, e := range entries {
		name := e.Name()
		if _, ok := t.Find(name); ok || strings.HasPrefix(name, tempPrefix) {
			continue
		}
		spath := path.Join(sdir, name)
		if rs.opts.Exclude.Match(spath) {
			continue // left out of the restore, so not ours to delete
		}
		p := filepath.Join(dir, name)
		rs.report(ActionDelete, p)
		if !rs.opts.DryRun {
			if err := os.RemoveAll(p); err != nil {
				rs.fail(p, err)
			}
		}
	}
}

func mkdir(path string) error {
	err := os.Mkdir(path, 0o700)
	if errors.Is(err, os.ErrExist) {
		fi, serr := os.Lstat(path)
		if serr == nil && fi.IsDir() {
			return nil
		}
		return fmt.Errorf("a file that is not a directory is in the way")
	}
	return err
}

// flush executes the planned batch.
func (rs *restorer) flush() error {
	files, packs := rs.files, rs.packs
	rs.files, rs.packs, rs.nwrite = nil, map[crypto.ID]map[crypto.ID]*blobWrites{}, 0
	defer func() {
		items := rs.verify
		rs.verify = nil
		rs.verifyBatch(items)
		rs.finalize()
	}()
	for _, fs := range files {
		if fs.remaining.Load() == 0 { // empty, or every blob already there
			fs.mu.Lock()
			err := rs.open(fs)
			fs.mu.Unlock()
			if err != nil {
				fs.failed.Store(true)
				rs.fail(fs.path, err)
				continue
			}
			rs.finish(fs)
		}
	}
	ids := make([]crypto.ID, 0, len(packs))
	for id := range packs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b crypto.ID) int { return bytes.Compare(a[:], b[:]) })
	g, gctx := errgroup.WithContext(rs.ctx)
	g.SetLimit(rs.opts.Workers)
	for _, id := range ids {
		g.Go(func() error { return rs.restorePack(gctx, id, packs[id]) })
	}
	err := g.Wait()
	// Close whatever is still open (after a failure). When interrupted,
	// keep the partial files: the next run completes them.
	if err != nil {
		keep := rs.ctx.Err() != nil
		for _, fs := range files {
			if fs.remaining.Load() > 0 {
				fs.abandon(keep)
			}
		}
	}
	return err
}

// open creates the file's temporary name on first use and sizes it, so
// blobs that are not written stay holes. fs.mu must be held.
func (rs *restorer) open(fs *fileState) error {
	if fs.created {
		return nil
	}
	fs.created = true
	if fi, err := os.Lstat(fs.path); err == nil && fi.IsDir() {
		return fmt.Errorf("a directory is in the way")
	}
	flags := os.O_CREATE | os.O_TRUNC | os.O_WRONLY
	if fs.resume {
		flags = os.O_WRONLY // keep what an interrupted run or the old file left
	}
	f, err := os.OpenFile(fs.tmp, flags, 0o600)
	if err != nil {
		return err
	}
	if err := f.Truncate(int64(fs.node.Size)); err != nil {
		f.Close()
		os.Remove(fs.tmp)
		return err
	}
	fs.f = f
	return nil
}

// finish closes a complete file, applies its metadata and renames it into
// place.
func (rs *restorer) finish(fs *fileState) {
	fs.mu.Lock()
	f := fs.f
	fs.f = nil
	fs.mu.Unlock()
	if f == nil {
		return
	}
	err := rs.setMeta(fs.tmp, fs.node, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(fs.tmp, fs.path)
	}
	if err != nil {
		os.Remove(fs.tmp)
		rs.fail(fs.path, err)
		return
	}
	rs.checkLater(fs.path, fs.node)
}

type segment struct {
	start, end int64
	blobs      []*blobWrites
}

// maxGap is the largest run of unneeded bytes read rather than skipped
// between two needed blobs of a pack; maxSegment bounds one read (a single
// larger blob is read alone).
const (
	maxGap     = 1 << 20
	maxSegment = 4 << 20
)

func (rs *restorer) restorePack(ctx context.Context, id crypto.ID, blobs map[crypto.ID]*blobWrites) error {
	list := make([]*blobWrites, 0, len(blobs))
	for _, bw := range blobs {
		list = append(list, bw)
	}
	slices.SortFunc(list, func(a, b *blobWrites) int { return int(a.entry.Offset) - int(b.entry.Offset) })
	var segs []segment
	for _, bw := range list {
		s, e := int64(bw.entry.Offset), int64(bw.entry.Offset)+int64(bw.entry.Length)
		if n := len(segs); n > 0 && s-segs[n-1].end <= maxGap && e-segs[n-1].start <= maxSegment {
			segs[n-1].end = max(segs[n-1].end, e)
			segs[n-1].blobs = append(segs[n-1].blobs, bw)
			continue
		}
		segs = append(segs, segment{start: s, end: e, blobs: []*blobWrites{bw}})
	}
	h := backend.Handle{Type: backend.PackFile, Name: id.String()}
	hasher := rs.r.Key().NewIDHasher()
	var buf, plain []byte
	for _, sg := range segs {
		if cap(buf) < int(sg.end-sg.start) {
			buf = make([]byte, sg.end-sg.start)
		}
		buf = buf[:sg.end-sg.start]
		if err := backend.ReadAt(ctx, rs.r.Backend(), h, buf, sg.start); err != nil {
			for _, bw := range sg.blobs {
				rs.blobFailed(bw, fmt.Errorf("read pack %s: %w", id.Short(), err))
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		rs.prog.BytesRead.Add(int64(len(buf)))
		for _, bw := range sg.blobs {
			off := int64(bw.entry.Offset) - sg.start
			var err error
			plain, err = pack.OpenBlob(rs.r.Key(), hasher, bw.entry, buf[off:off+int64(bw.entry.Length)], plain[:0])
			if err != nil {
				rs.blobFailed(bw, fmt.Errorf("pack %s: %w", id, err))
				continue
			}
			zero := allZero(plain)
			for _, wr := range bw.writes {
				rs.writeBlob(wr, plain, zero)
			}
		}
	}
	return nil
}

func (rs *restorer) blobFailed(bw *blobWrites, err error) {
	for _, wr := range bw.writes {
		if !wr.file.failed.Swap(true) {
			rs.fail(wr.file.path, err)
		}
		rs.blobDone(wr.file)
	}
}

// blobDone counts one of a file's blobs as handled; after the last, the
// file is completed, or dropped if one failed.
func (rs *restorer) blobDone(fs *fileState) {
	if fs.remaining.Add(-1) != 0 {
		return
	}
	if fs.failed.Load() {
		fs.abandon(false)
		return
	}
	rs.finish(fs)
}

// abandon closes the temporary file if it is open and, unless keep is
// set, removes it if this run opened it (a partial file from an earlier
// run that this one did not get to stays for the next).
func (fs *fileState) abandon(keep bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f != nil {
		fs.f.Close()
		fs.f = nil
	}
	if !keep && fs.created {
		os.Remove(fs.tmp)
	}
}

func (rs *restorer) writeBlob(wr write, data []byte, zero bool) {
	fs := wr.file
	if !fs.failed.Load() {
		fs.mu.Lock()
		err := rs.open(fs)
		if err == nil && fs.f != nil {
			switch {
			case !zero:
				_, err = fs.f.WriteAt(data, wr.offset)
			case fs.resume:
				// The old data there is not zero: make it a hole.
				err = punchHole(fs.f, wr.offset, int64(len(data)))
			}
		}
		fs.mu.Unlock()
		if err != nil && !fs.failed.Swap(true) {
			rs.fail(fs.path, err)
		}
	}
	rs.prog.Bytes.Add(int64(len(data)))
	rs.blobDone(fs)
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (rs *restorer) link(l hardlink) {
	target, terr := os.Lstat(l.target)
	if terr != nil && !rs.opts.DryRun {
		rs.fail(l.path, fmt.Errorf("hard link target %s was not restored", l.target))
		return
	}
	act := ActionRestore
	if fi, err := os.Lstat(l.path); err == nil {
		if fi.IsDir() {
			rs.fail(l.path, fmt.Errorf("a directory is in the way"))
			return
		}
		act = rs.decide(l.node, fi, func() bool { return terr == nil && os.SameFile(fi, target) })
		if act == ActionSkip || act == ActionUnchanged {
			rs.report(act, l.path)
			return
		}
		act = ActionUpdate
	}
	rs.report(act, l.path)
	if rs.opts.DryRun {
		return
	}
	os.Remove(l.path)
	if err := os.Link(l.target, l.path); err != nil {
		rs.fail(l.path, err)
	}
}
