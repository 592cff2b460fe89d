package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/beneath"
	"github.com/arcabackup/arca/repo/filter"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
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
	// Workers is the number of packs read at once; zero means one per
	// core (at least 2), or the remote backend's connections if more.
	Workers int
	// Warn, if not nil, is called for each entry that could not be
	// restored completely.
	Warn func(path string, err error)
	// Report, if not nil, is called with what happens to each entry
	// (directories only when they are created or deleted).
	Report func(a Action, path string)
	// Progress, if not nil, is updated while the restore runs.
	Progress *Progress

	test *hooks // set by tests (export_test.go)
}

// hooks let tests act at the points where a hostile user could.
type hooks struct {
	beforeCreate   func(dir, name string) // a temporary entry is about to be created
	beforeFlush    func()                 // a batch is planned; its files are written next
	beforeFinalize func()                 // hard links and directory metadata are next
	afterWrite     func(path string)      // a blob was written to the file at path
}

func (o *Options) hooks() *hooks {
	if o.test == nil {
		o.test = &hooks{}
	}
	return o.test
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
// writes, or when this many walked directories wait for their metadata
// (each holds an open handle), which bounds memory and open files whatever
// the snapshot's size.
var (
	batchFiles  = 20000
	batchWrites = 200000
	batchDirs   = 1000
)

// tempPrefix starts the names of the restore's temporary entries and of
// its journal; --delete leaves such names alone.
const tempPrefix = ".arca-restore-"

type restorer struct {
	ctx   context.Context
	r     *repo.Repository
	opts  Options
	prog  *Progress
	owner bool
	euid  int
	egid  int
	umask int // the process's, -1 if unknown (createMode)
	names *owners

	root    *dirNode
	journal *journal

	files  []*fileState
	packs  map[crypto.ID]map[crypto.ID]*blobWrites // pack -> blob -> writes
	nwrite int
	// running holds the batches being written (at most two, oldest
	// first) while the walk plans the next; readers are their workers'.
	running []*batch
	readers chan *repo.PackReader

	verifyMu sync.Mutex // verify is added to by the batch's workers and the walk
	verify   []verifyItem

	links    map[[2]uint64]linkTarget // (device, inode) of the snapshot's file -> where it was restored
	later    []hardlink
	dirs     []*dirMeta // in walk order; finalized once walked and flushed
	doneDirs int        // dirs walked completely, waiting for finalize

	errCount atomic.Int64
}

// Run restores snapshot sn (or opts.Root in it) into opts.Target. Every
// file-system operation works beneath an open handle of the target and
// follows no symlink there (docs/design.md, "Restore never writes outside
// its target").
func Run(ctx context.Context, r *repo.Repository, sn *snapshot.Snapshot, opts Options) error {
	if opts.Workers <= 0 {
		// One per core on a local disk: each reader decompresses and
		// hashes what it reads, and more only add buffers (2 against 4
		// on 2 cores: as fast, 20 MB less; 8 slowed writes); as many as
		// the backend's connections on a remote one, to hide its latency.
		opts.Workers = min(max(runtime.GOMAXPROCS(0), 2, r.Connections()), 16)
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
	rs := &restorer{
		ctx: ctx, r: r, opts: opts, prog: opts.Progress, owner: os.Geteuid() == 0, euid: os.Geteuid(),
		egid: os.Getegid(), umask: processUmask(),
		names: &owners{users: map[string]int{}, groups: map[string]int{}},
		packs: map[crypto.ID]map[crypto.ID]*blobWrites{}, links: map[[2]uint64]linkTarget{},
		readers: make(chan *repo.PackReader, opts.Workers),
	}
	for range opts.Workers {
		pr := r.NewPackReader()
		pr.Stream = true // its callback only writes files
		rs.readers <- pr
	}
	if err := rs.openTarget(); err != nil {
		return err
	}
	defer rs.root.release()
	if node.Type == tree.Dir {
		err = rs.walk(node.Subtree, rs.root, root, rs.opts.Include.Empty())
	} else {
		err = rs.entry(node, rs.root, node.Name)
	}
	if err == nil {
		err = rs.flush()
	}
	if werr := rs.waitAll(); err == nil {
		err = werr
	}
	rs.journal.finish(err == nil)
	if err != nil {
		return err
	}
	if n := rs.errCount.Load(); n > 0 {
		return fmt.Errorf("%w: %d errors", ErrIncomplete, n)
	}
	return nil
}

// openTarget creates the target if needed and opens it; in a dry run a
// missing target is a directory with nothing in it.
func (rs *restorer) openTarget() error {
	target := rs.opts.Target
	if !rs.opts.DryRun {
		if err := os.MkdirAll(target, 0o700); err != nil {
			return fmt.Errorf("restore: target %s: %w", target, err)
		}
		if err := unix.Access(target, unix.W_OK); err != nil {
			return fmt.Errorf("restore: target %s is not writable: %w", target, err)
		}
	}
	d, err := beneath.OpenRoot(target)
	if err != nil && !(rs.opts.DryRun && errors.Is(err, os.ErrNotExist)) {
		return fmt.Errorf("restore: target %s: %w", target, err)
	}
	rs.root = &dirNode{d: d, path: target}
	rs.root.refs.Store(1)
	rs.journal = &journal{}
	if d != nil && !rs.opts.DryRun {
		rs.journal = openJournal(d, rs.euid, rs.fail)
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
