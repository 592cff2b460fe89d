package restore

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"

	"github.com/arcabackup/arca/repo/beneath"
	"github.com/arcabackup/arca/repo/tree"
	"golang.org/x/sys/unix"
)

// dirNode is a directory of the target the restore works in: an open
// handle and its path relative to the target. Its handle is closed when
// the last user lets go of it: the walk, the files planned in it, its
// pending metadata and hard links. In a dry run a directory that does not
// exist yet has no handle.
type dirNode struct {
	d    *beneath.Dir // nil: does not exist (yet, or in a dry run)
	rel  string       // slash-separated, "" for the target
	path string       // in the file system, for messages
	refs atomic.Int32

	// A directory that is only on the way to included entries is created
	// when the first entry beneath it is restored (need): pending until
	// then, holding its parent, and replacing a symlink at its name if
	// replace is set.
	pending bool
	replace bool
	parent  *dirNode
	name    string
	failed  bool // creating it failed (reported once)

	// fresh: this restore created the directory (mode 0700, so nobody
	// else can add to it): it holds only what the restore puts there, so
	// names need no lstat. newGid is the group a file created in it gets
	// (-1: not known); plainMode says a file created in it gets its
	// creation mode less the umask (no default ACL decides instead).
	fresh     bool
	newGid    int
	plainMode bool
}

// child returns the node of directory name inside n, opened as d, held
// once (for the walk).
func (n *dirNode) child(name string, d *beneath.Dir) *dirNode {
	c := &dirNode{d: d, rel: path.Join(n.rel, name), path: n.join(name), name: name}
	c.refs.Store(1)
	return c
}

// pendingChild returns the node of directory name inside n that is to be
// created only when needed.
func (n *dirNode) pendingChild(name string, replace bool) *dirNode {
	c := n.child(name, nil)
	c.pending, c.replace, c.parent = true, replace, n.hold()
	return c
}

func (n *dirNode) hold() *dirNode {
	n.refs.Add(1)
	return n
}

func (n *dirNode) release() {
	if n.refs.Add(-1) == 0 {
		if n.d != nil {
			n.d.Close()
		}
		if n.parent != nil {
			n.parent.release()
			n.parent = nil
		}
	}
}

// errSkip is returned by need for a directory whose creation failed and
// was reported: what would go inside it is skipped silently.
var errSkip = errors.New("restore: skipped")

// need makes sure the directory dn exists before something is restored
// into it, creating it (and the pending directories above it) if it was
// only on the way.
func (rs *restorer) need(dn *dirNode) error {
	switch {
	case dn.failed:
		return errSkip
	case !dn.pending:
		return nil
	}
	if err := rs.need(dn.parent); err != nil {
		dn.failed = true
		return errSkip
	}
	rs.reportNewDir(dn.path)
	if !rs.opts.DryRun {
		var err error
		if dn.replace {
			err = dn.parent.d.Remove(dn.name)
		}
		if err == nil {
			dn.d, err = rs.mkdir(dn.parent, dn.name, dn)
		}
		if err != nil {
			dn.failed = true
			rs.fail(dn.path, err)
			return errSkip
		}
	}
	dn.pending = false
	dn.parent.release()
	dn.parent = nil
	return nil
}

func (n *dirNode) join(name string) string { return filepath.Join(n.path, name) }

// lstat returns what is at name in n, if anything.
func (n *dirNode) lstat(name string) (unix.Stat_t, bool, error) {
	if n.d == nil || n.fresh {
		return unix.Stat_t{}, false, nil
	}
	st, err := n.d.Lstat(name)
	if errors.Is(err, os.ErrNotExist) {
		return st, false, nil
	}
	return st, err == nil, err
}

// dirMeta is a directory whose metadata is applied once its contents are
// written.
type dirMeta struct {
	dir  *dirNode
	node tree.Node
	done bool // its walk has finished
}

// linkTarget is where the first name of a hard-linked file was restored.
type linkTarget struct {
	rel, name string
}

type hardlink struct {
	dir    *dirNode
	name   string
	target linkTarget
	node   *tree.Node
}

// finalize runs after a batch is written: it makes the hard links whose
// targets now exist and applies the metadata of the directories that were
// walked completely, deepest first (their mtimes must come after their
// contents), through their open handles. Directories still being walked,
// the ancestors of where the walk is, stay; so memory and open handles
// hold one path's worth of directories, not the snapshot's.
func (rs *restorer) finalize(b *batch) {
	if h := rs.opts.test; h != nil && h.beforeFinalize != nil {
		h.beforeFinalize()
	}
	for _, l := range b.later {
		rs.link(l)
		l.dir.release()
	}
	for _, m := range b.dirs {
		if m.dir.d != nil { // not a directory only on the way that was never needed
			if err := rs.dirMeta(m); err != nil {
				rs.fail(m.dir.path, err)
			}
		}
		m.dir.release()
	}
}

func (rs *restorer) dirMeta(m *dirMeta) error {
	e, err := m.dir.d.Entry()
	if err != nil {
		return err
	}
	return rs.fixMeta(e, &m.node)
}

// link makes a hard link to the file restored first: at a temporary name,
// then renamed over whatever is at its name.
func (rs *restorer) link(l hardlink) {
	p := l.dir.join(l.name)
	var td *beneath.Dir
	var tst unix.Stat_t
	terr := errors.New("not restored")
	if rs.root.d != nil {
		if td, terr = rs.root.d.OpenDir(l.target.rel); terr == nil {
			defer td.Close()
			tst, terr = td.Lstat(l.target.name)
			if terr == nil && tst.Mode&unix.S_IFMT != unix.S_IFREG {
				terr = errors.New("not a regular file")
			}
		}
	}
	if terr != nil && !rs.opts.DryRun {
		rs.fail(p, fmt.Errorf("hard link target %s: %w", filepath.Join(rs.root.path, l.target.rel, l.target.name), terr))
		return
	}
	st, exists, err := l.dir.lstat(l.name)
	if err != nil {
		rs.fail(p, err)
		return
	}
	act := ActionRestore
	if exists {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			rs.fail(p, errors.New("a directory is in the way"))
			return
		}
		act = rs.decide(l.node, &st, func() bool { return terr == nil && st.Dev == tst.Dev && st.Ino == tst.Ino })
		if act == ActionSkip || act == ActionUnchanged {
			rs.report(act, p)
			return
		}
		act = ActionUpdate
	}
	if err := rs.need(l.dir); err != nil {
		return
	}
	rs.report(act, p)
	if rs.opts.DryRun {
		return
	}
	tmp, err := rs.makeTemp(l.dir, l.name, func(tmp string) error { return l.dir.d.Link(td, l.target.name, tmp) })
	if err == nil {
		err = l.dir.d.Rename(tmp, l.name)
		// rename between two names of one file does nothing: drop the
		// temporary name in that case.
		if rerr := l.dir.d.Remove(tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	if err != nil {
		rs.fail(p, err)
	}
}

// makeTemp creates a temporary entry in dn for the entry final: it records
// a fresh unpredictable name in the journal, then calls mk, which must
// fail rather than replace or follow anything already there; a taken name
// is replaced by another.
func (rs *restorer) makeTemp(dn *dirNode, final string, mk func(tmp string) error) (string, error) {
	return dn.d.MakeTemp(tempPrefix, func(tmp string) error {
		rs.journal.record(journalEntry{Dir: dn.rel, Name: final, Temp: tmp})
		if h := rs.opts.test; h != nil && h.beforeCreate != nil {
			h.beforeCreate(dn.path, tmp)
		}
		return mk(tmp)
	})
}
