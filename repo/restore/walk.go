package restore

import (
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo/beneath"
	"github.com/arcabackup/arca/repo/tree"
	"golang.org/x/sys/unix"
)

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
// is applied) and opens it. When this call created it, dn is marked fresh
// (dirNode), with what a file created in it gets: which group, and whether
// the umask or a default ACL masks its mode.
func (rs *restorer) mkdir(parent *dirNode, name string, dn *dirNode) (*beneath.Dir, error) {
	created := true
	if err := parent.d.Mkdir(name, 0o700); errors.Is(err, os.ErrExist) {
		created = false
	} else if err != nil {
		return nil, err
	}
	d, err := parent.d.OpenDir(name)
	if err != nil || !created {
		return d, err
	}
	e, err := d.Entry()
	if err != nil {
		d.Close()
		return nil, err
	}
	st := e.Stat()
	dn.fresh = true
	switch {
	case st.Mode&unix.S_ISGID != 0:
		dn.newGid = int(st.Gid) // inherited from a setgid parent
	case int(st.Gid) == rs.egid:
		dn.newGid = rs.egid
	default:
		// A file system mounted with grpid gives new files the
		// directory's group, others the creator's: not known which.
		dn.newGid = -1
	}
	// A default ACL (inherited from the parent) replaces the umask.
	_, err = unix.Fgetxattr(d.Fd(), "system.posix_acl_default", nil)
	dn.plainMode = errors.Is(err, unix.ENODATA) || errors.Is(err, unix.EOPNOTSUPP)
	return d, nil
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
