package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
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

// testHookRead, if set by a test, runs when a file was opened and
// stat'ed, before it is read.
var testHookRead func(path string)

// testHookHaveAll, if set by a test, runs when the blobs of an unchanged
// file are looked up.
var testHookHaveAll func()

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
	dir    *dirHandle // the file's directory, held for the reader; nil: open path
	path   string
	action string // ActionNew or ActionModified, for Report
	fut    *future
	xattrs bool // list the file's extended attributes from the open file
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

	jobs chan fileJob
	// comps is the set of compressors every goroutine that stores blobs
	// takes one from for each blob (the readers' small files, the pool's
	// chunks, trees), one per core: each holds zstd encoders of a few MB,
	// and no more blobs than cores are compressed at once anyway.
	comps chan *pack.Compressor
	// chunkers cut files of ChunkMin bytes or more, one per core, so
	// many readers can open small files at once while large files go
	// through the pool.
	chunkers chan *chunker.Chunker
	pool     *pool
	// walkers holds a token for each directory walked on a goroutine of
	// its own besides the main walk (walkSubdir).
	walkers chan struct{}
	walking sync.WaitGroup // walkers under way: they may still hand files to readers

	scanStop atomic.Bool
	// parentVerified: the parent's blobs are all present (repo.Verified),
	// so unchanged files need no lookups.
	parentVerified bool

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
	defer a.pool.close()
	w := a.w
	a.chunkers = make(chan *chunker.Chunker, min(runtime.GOMAXPROCS(0), opts.Readers))
	for range cap(a.chunkers) {
		a.chunkers <- chunker.NewWithBoundaries(nil, a.cfg.ChunkerPolynomial, a.cfg.ChunkMin, a.cfg.ChunkMax)
	}

	// Blobs of unchanged files are looked up one by one unless the
	// parent's tree is verified (repo.Verified).
	removals, err := r.Removals()
	if err != nil {
		w.Close()
		return nil, err
	}
	a.parentVerified = opts.Parent != nil && r.Verified(opts.Parent.Tree)

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
	a.walking.Wait()
	close(a.jobs)
	workers.Wait()
	<-rootFut.done
	a.pool.close()

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
	sn, err := a.commit(start, paths, rootFut.node.Subtree)
	if sn != nil && !opts.DryRun {
		// Every blob the new tree reaches was checked or stored.
		if err := r.SetVerified(sn.Tree, removals); err != nil {
			a.warn(r.CacheDir(), err)
		}
	}
	return sn, err
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
	a := &archiver{
		ctx: ctx, r: r, w: w, opts: opts, cfg: r.Config(), names: newNames(), prog: opts.Progress,
		jobs: make(chan fileJob), links: map[devIno]*future{},
		walkers: make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	a.comps = make(chan *pack.Compressor, runtime.GOMAXPROCS(0))
	for range cap(a.comps) {
		a.comps <- w.NewCompressor()
	}
	a.pool = newPool(a)
	return a
}

// recoverPacks compares the repository's packs with the index (repo.SyncPacks:
// lost or damaged packs leave deduplication, packs an interrupted session
// left are indexed) when it is due (repo.PackSyncDue) or when the backup
// reads every file (no parent: --force, or a first backup), which then
// stores again every blob not verifiably present. A dry run writes
// nothing.
func recoverPacks(ctx context.Context, r *repo.Repository, opts Options) error {
	if opts.DryRun || (opts.Parent != nil && !r.PackSyncDue()) {
		return nil
	}
	return r.SyncPacks(ctx)
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
