package restore

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"

	"github.com/arcabackup/arca/repo/beneath"
	"github.com/arcabackup/arca/repo/tree"
	"golang.org/x/sys/unix"
)

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

// setMeta applies ownership (as root), mode, xattrs and times to the
// object e refers to. Symlinks get no mode.
func (rs *restorer) setMeta(e *beneath.Entry, n *tree.Node) error {
	return rs.applyMeta(e, n, false, false)
}

// applyMeta is setMeta leaving out the owner and the mode when the caller
// knows they are right already (a file created with them).
func (rs *restorer) applyMeta(e *beneath.Entry, n *tree.Node, ownerOK, modeOK bool) error {
	var errs []error
	if rs.owner && !ownerOK {
		uid, gid := rs.ids(n)
		if err := e.Chown(uid, gid); err != nil {
			errs = append(errs, err)
		}
	}
	if n.Type != tree.Symlink && !modeOK {
		if err := e.Chmod(unixMode(n.Mode)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, x := range n.Xattrs {
		if err := e.Setxattr(x.Name, x.Value); err != nil && !(n.Type == tree.Symlink && errors.Is(err, unix.EPERM)) {
			errs = append(errs, err)
		}
	}
	atime := n.AccessTime
	if atime == 0 {
		atime = n.ModTime // not stored: directories, links, and files without --with-atime
	}
	if err := e.SetTimes(atime, n.ModTime); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// unixMode converts the stored permission bits (07777) to chmod's.
func unixMode(m uint32) uint32 { return m & 0o7777 }

// createMode returns the permission bits to create n's temporary file in
// dn with, and whether the file then has n's mode without a chmod. A file
// is created with its own mode only when that mode lets its owner read and
// write it and nobody else write to it, with no set-ID or sticky bit
// (which a chown would clear): otherwise it is created 0600 and changed
// when complete. The chmod is left out only in a directory this restore
// created without a default ACL (which would replace the umask), and
// when the umask keeps the mode whole.
func (rs *restorer) createMode(n *tree.Node, dn *dirNode) (uint32, bool) {
	m := unixMode(n.Mode)
	if m&^0o755 != 0 || m&0o600 != 0o600 {
		return 0o600, false
	}
	return m, dn.fresh && dn.plainMode && rs.umask >= 0 && m&^uint32(rs.umask) == m
}

// processUmask reads the process's umask from /proc (reading it with
// umask(2) would change it for a moment under other threads); -1 if it
// cannot be read.
func processUmask() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return int(m)
			}
		}
	}
	return -1
}

// makeSpecial creates a symlink, FIFO or device node at a temporary name,
// applies its metadata there and renames it over whatever is at name.
func (rs *restorer) makeSpecial(dn *dirNode, name string, n *tree.Node) error {
	typ := n.Type.UnixType()
	tmp, err := rs.makeTemp(dn, name, func(tmp string) error {
		switch n.Type {
		case tree.Symlink:
			return dn.d.Symlink(n.LinkTarget, tmp)
		case tree.FIFO, tree.Device, tree.CharDev:
			return dn.d.Mknod(tmp, typ|unixMode(n.Mode), n.Rdev)
		}
		return fmt.Errorf("cannot create a %s", n.Type)
	})
	if err != nil {
		return err
	}
	e, err := dn.d.Open(tmp)
	if err == nil {
		if e.Type() != typ {
			err = fmt.Errorf("%s was replaced while being restored", e.Name())
		} else {
			err = rs.setMeta(e, n)
		}
		e.Close()
	}
	if err == nil {
		err = dn.d.Rename(tmp, name)
	}
	if err != nil {
		dn.d.Remove(tmp)
	}
	return err
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

// fixMetaAt makes the metadata of the entry name in dn match n. st is
// what lstat found there: when it already matches, nothing more is done;
// otherwise the entry is opened without following a symlink, must still
// be that object, and is changed through its handle.
func (rs *restorer) fixMetaAt(dn *dirNode, name string, n *tree.Node, st *unix.Stat_t) error {
	if !rs.needsMeta(st, n) {
		return nil
	}
	e, err := dn.d.Open(name)
	if err != nil {
		return err
	}
	defer e.Close()
	if got := e.Stat(); got.Ino != st.Ino || got.Dev != st.Dev || e.Type() != n.Type.UnixType() {
		return fmt.Errorf("%s was replaced while being restored", e.Name())
	}
	return rs.setMeta(e, n)
}

// fixMeta makes the metadata of e match n, changing only what differs: an
// entry that is already right costs no syscall.
func (rs *restorer) fixMeta(e *beneath.Entry, n *tree.Node) error {
	if !rs.needsMeta(e.Stat(), n) {
		return nil
	}
	return rs.setMeta(e, n)
}

// needsMeta reports whether an entry's metadata (st) differs from n's. An
// access time that was not stored is left as it is.
func (rs *restorer) needsMeta(st *unix.Stat_t, n *tree.Node) bool {
	if rs.owner {
		uid, gid := rs.ids(n)
		if int(st.Uid) != uid || int(st.Gid) != gid {
			return true
		}
	}
	if n.Type != tree.Symlink && st.Mode&0o7777 != unixMode(n.Mode) {
		return true
	}
	return len(n.Xattrs) > 0 || st.Mtim.Nano() != n.ModTime || n.AccessTime != 0 && st.Atim.Nano() != n.AccessTime
}
