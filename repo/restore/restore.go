package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
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

	test *hooks // set by tests (export_test.go)
}

// hooks let tests act at the points where a hostile user could.
type hooks struct {
	beforeCreate   func(dir, name string) // a temporary entry is about to be created
	beforeFlush    func()                 // a batch is planned; its files are written next
	beforeFinalize func()                 // hard links and directory metadata are next
	afterWrite     func()                 // a blob was written to a file
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
	names *owners

	root    *dirNode
	journal *journal

	files  []*fileState
	packs  map[crypto.ID]map[crypto.ID]*blobWrites // pack -> blob -> writes
	nwrite int
	verify []verifyItem

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
	rs := &restorer{
		ctx: ctx, r: r, opts: opts, prog: opts.Progress, owner: os.Geteuid() == 0, euid: os.Geteuid(),
		names: &owners{users: map[string]int{}, groups: map[string]int{}},
		packs: map[crypto.ID]map[crypto.ID]*blobWrites{}, links: map[[2]uint64]linkTarget{},
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
		rs.journal = openJournal(d, rs.euid, rs.warnJournal)
	}
	return nil
}

func (rs *restorer) warnJournal(p string, err error) { rs.fail(p, err) }

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

// walk restores the entries of tree id into dn; sdir is the directory's
// path in the snapshot. whole says the directory is selected entirely
// (not only for some included entries inside it), which --delete needs. A
// tree that cannot be read is reported and its subtree skipped.
func (rs *restorer) walk(id crypto.ID, dn *dirNode, sdir string, whole bool) error {
	if err := rs.ctx.Err(); err != nil {
		return err
	}
	t, err := tree.Load(rs.ctx, rs.r, id)
	if err != nil {
		if cerr := rs.ctx.Err(); cerr != nil {
			return cerr
		}
		rs.fail(dn.path, fmt.Errorf("the snapshot's directory %s cannot be read, its contents are skipped: %w", sdir, err))
		return nil
	}
	if rs.opts.Delete && whole {
		rs.deleteExtra(dn, sdir, t)
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if !tree.ValidName(n.Name) {
			rs.fail(dn.join(n.Name), errors.New("invalid name in snapshot"))
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
			if err := rs.dir(n, dn, spath, included); err != nil {
				return err
			}
		} else {
			if !included {
				continue
			}
			if err := rs.entry(n, dn, n.Name); err != nil {
				return err
			}
		}
		if len(rs.files) >= batchFiles || rs.nwrite >= batchWrites || rs.doneDirs >= batchDirs {
			if err := rs.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// dir restores a directory and walks into it. A directory that is not
// selected whole (only on the way to included entries) and does not exist
// is created only when something beneath it is restored. A symlink where
// the snapshot has a directory is replaced by the directory (unless the
// overwrite mode is never), never followed.
func (rs *restorer) dir(n *tree.Node, parent *dirNode, spath string, whole bool) error {
	p := parent.join(n.Name)
	st, exists, err := parent.lstat(n.Name)
	if err != nil {
		rs.fail(p, err)
		return nil
	}
	var child *dirNode
	switch typ := st.Mode & unix.S_IFMT; {
	case typ == unix.S_IFDIR:
		var d *beneath.Dir
		if d, err = parent.d.OpenDir(n.Name); err == nil {
			child = parent.child(n.Name, d)
		}
	case !exists || typ == unix.S_IFLNK && rs.opts.Overwrite != OverwriteNever:
		child = parent.pendingChild(n.Name, exists)
		if whole {
			err = rs.need(child)
		}
	case typ == unix.S_IFLNK:
		err = errors.New("a symlink is in the way of a directory (left as it is with --overwrite never)")
	default:
		err = errors.New("a file that is not a directory is in the way")
	}
	if err != nil {
		if child != nil {
			child.release()
		}
		if err != errSkip {
			rs.fail(p, err)
		}
		return nil
	}
	var m *dirMeta
	if !rs.opts.DryRun {
		m = &dirMeta{dir: child.hold(), node: *n}
		rs.dirs = append(rs.dirs, m)
	}
	err = rs.walk(n.Subtree, child, spath, whole)
	child.release()
	if m != nil {
		m.done = true
		rs.doneDirs++
	}
	return err
}

// mkdir creates the directory name in parent (private until its metadata
// is applied) and opens it.
func (rs *restorer) mkdir(parent *dirNode, name string) (*beneath.Dir, error) {
	if err := parent.d.Mkdir(name, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	return parent.d.OpenDir(name)
}

// entry restores one entry that is not a directory into dn.
func (rs *restorer) entry(n *tree.Node, dn *dirNode, name string) error {
	switch n.Type {
	case tree.File:
		if n.Links > 1 {
			key := [2]uint64{n.Device, n.Inode}
			if first, ok := rs.links[key]; ok {
				rs.later = append(rs.later, hardlink{dir: dn.hold(), name: name, target: first, node: n})
				return nil
			}
			rs.links[key] = linkTarget{rel: dn.rel, name: name}
		}
		return rs.file(n, dn, name)
	}
	rs.special(n, dn, name)
	return nil
}

// deleteExtra removes the entries of dn that tree t does not have.
func (rs *restorer) deleteExtra(dn *dirNode, sdir string, t *tree.Tree) {
	if dn.d == nil {
		return // a dry run's directory that does not exist yet
	}
	names, err := dn.d.Names()
	if err != nil {
		rs.fail(dn.path, err)
		return
	}
	for _, name := range names {
		if _, ok := t.Find(name); ok || len(name) >= len(tempPrefix) && name[:len(tempPrefix)] == tempPrefix {
			continue
		}
		if rs.opts.Exclude.Match(path.Join(sdir, name)) {
			continue // left out of the restore, so not ours to delete
		}
		p := dn.join(name)
		rs.report(ActionDelete, p)
		if !rs.opts.DryRun {
			if err := dn.d.RemoveAll(name); err != nil {
				rs.fail(p, err)
			}
		}
	}
}
