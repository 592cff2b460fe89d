package restore

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/arcabackup/arca/repo/tree"
	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

// tempName is where a file is written before it is complete: a hidden name
// in the same directory derived from the final name, so a second run after
// an interruption reuses and replaces it.
func tempName(path string) string {
	sum := blake3.Sum256([]byte(filepath.Base(path)))
	return filepath.Join(filepath.Dir(path), fmt.Sprintf("%s%x", tempPrefix, sum[:8]))
}

// tempPrefix starts the names of files being restored.
const tempPrefix = ".arca-restore-"

// owners maps user and group names to this system's IDs, caching lookups
// (each one reads /etc/passwd or /etc/group).
type owners struct {
	mu     sync.Mutex
	users  map[string]int
	groups map[string]int
}

func (o *owners) lookup(m map[string]int, name string, find func(string) (string, error)) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if id, ok := m[name]; ok {
		return id
	}
	id := -1
	if s, err := find(name); err == nil {
		if v, err := strconv.Atoi(s); err == nil {
			id = v
		}
	}
	m[name] = id
	return id
}

// ids returns the owner to restore: the IDs the names have here, falling
// back to the stored numeric IDs (only those with NumericOwner).
func (rs *restorer) ids(n *tree.Node) (int, int) {
	uid, gid := int(n.UID), int(n.GID)
	if rs.opts.NumericOwner {
		return uid, gid
	}
	if n.User != "" {
		if v := rs.names.lookup(rs.names.users, n.User, func(s string) (string, error) {
			u, err := user.Lookup(s)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		}); v >= 0 {
			uid = v
		}
	}
	if n.Group != "" {
		if v := rs.names.lookup(rs.names.groups, n.Group, func(s string) (string, error) {
			g, err := user.LookupGroup(s)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		}); v >= 0 {
			gid = v
		}
	}
	return uid, gid
}

// setMeta applies ownership (as root), mode, xattrs and times to path, or
// to f when it is not nil. Symlinks get no mode.
func (rs *restorer) setMeta(path string, n *tree.Node, f *os.File) error {
	var errs []error
	if rs.owner {
		uid, gid := rs.ids(n)
		var err error
		if f != nil {
			err = f.Chown(uid, gid)
		} else {
			err = os.Lchown(path, uid, gid)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if n.Type != tree.Symlink {
		mode := unixMode(n.Mode)
		var err error
		if f != nil {
			err = unix.Fchmod(int(f.Fd()), mode)
		} else {
			err = unix.Chmod(path, mode)
		}
		if err != nil {
			errs = append(errs, &os.PathError{Op: "chmod", Path: path, Err: err})
		}
	}
	for _, x := range n.Xattrs {
		var err error
		if f != nil {
			err = unix.Fsetxattr(int(f.Fd()), x.Name, x.Value, 0)
		} else {
			err = unix.Lsetxattr(path, x.Name, x.Value, 0)
		}
		if err != nil && !(n.Type == tree.Symlink && errors.Is(err, unix.EPERM)) {
			errs = append(errs, &os.PathError{Op: "setxattr " + x.Name, Path: path, Err: err})
		}
	}
	atime := n.AccessTime
	if atime == 0 {
		atime = n.ModTime // not stored: directories, links, and files without --with-atime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime), unix.NsecToTimespec(n.ModTime)}
	var err error
	if f != nil {
		err = unix.UtimesNanoAt(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", f.Fd()), ts, 0)
		if err != nil {
			err = unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW)
		}
	} else {
		err = unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		errs = append(errs, &os.PathError{Op: "utimes", Path: path, Err: err})
	}
	return errors.Join(errs...)
}

// unixMode converts the stored permission bits (07777) to chmod's.
func unixMode(m uint32) uint32 { return m & 0o7777 }

// removeNonDir removes what is at path unless it is a directory.
func removeNonDir(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("a directory is in the way")
	}
	return os.Remove(path)
}

// makeSpecial creates a symlink, FIFO or device node.
func (rs *restorer) makeSpecial(path string, n *tree.Node) error {
	if err := removeNonDir(path); err != nil {
		return err
	}
	var err error
	switch n.Type {
	case tree.Symlink:
		err = os.Symlink(n.LinkTarget, path)
	case tree.FIFO:
		err = unix.Mkfifo(path, unixMode(n.Mode))
	case tree.Device:
		err = unix.Mknod(path, unix.S_IFBLK|unixMode(n.Mode), int(n.Rdev))
	case tree.CharDev:
		err = unix.Mknod(path, unix.S_IFCHR|unixMode(n.Mode), int(n.Rdev))
	case tree.Socket, tree.Irregular:
		return nil // not restorable; the node documents that it existed
	default:
		return fmt.Errorf("unknown node type %s", n.Type)
	}
	if err != nil {
		return &os.PathError{Op: "create " + n.Type.String(), Path: path, Err: err}
	}
	return rs.setMeta(path, n, nil)
}

// punchHole deallocates a range of f, which then reads as zeros; where the
// file system cannot, it writes zeros.
func punchHole(f *os.File, off, n int64) error {
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == nil {
		return nil
	}
	zeros := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := f.WriteAt(zeros[:k], off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}

// fixMeta makes the metadata of path (whose lstat is fi) match n, changing
// only what differs: an entry that is already right costs no syscall. An
// access time that was not stored is left as it is.
func (rs *restorer) fixMeta(path string, n *tree.Node, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return rs.setMeta(path, n, nil)
	}
	if rs.owner {
		uid, gid := rs.ids(n)
		if int(st.Uid) != uid || int(st.Gid) != gid {
			return rs.setMeta(path, n, nil)
		}
	}
	if n.Type != tree.Symlink && st.Mode&0o7777 != unixMode(n.Mode) {
		return rs.setMeta(path, n, nil)
	}
	if len(n.Xattrs) > 0 {
		return rs.setMeta(path, n, nil)
	}
	if st.Mtim.Nano() != n.ModTime || n.AccessTime != 0 && st.Atim.Nano() != n.AccessTime {
		return rs.setMeta(path, n, nil)
	}
	return nil
}
