package backup

import (
	"errors"
	"io"
	"os"
	"os/user"
	"strconv"
	"sync"
	"syscall"

	"github.com/arcabackup/arca/repo/tree"
	"golang.org/x/sys/unix"
)

// names caches uid and gid lookups.
type names struct {
	mu     sync.Mutex
	users  map[uint32]string
	groups map[uint32]string
}

func newNames() *names {
	return &names{users: map[uint32]string{}, groups: map[uint32]string{}}
}

func (n *names) user(uid uint32) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.users[uid]; ok {
		return s
	}
	s := ""
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		s = u.Username
	}
	n.users[uid] = s
	return s
}

func (n *names) group(gid uint32) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.groups[gid]; ok {
		return s
	}
	s := ""
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		s = g.Name
	}
	n.groups[gid] = s
	return s
}

// lstatNode stats name in dir (path when dir is nil) and returns its node.
func (a *archiver) lstatNode(dir *dirHandle, name, path string) (tree.Node, error) {
	var st unix.Stat_t
	if err := lstat(dir, name, path, &st); err != nil {
		return tree.Node{}, err
	}
	return a.nodeFromStat(name, &st), nil
}

// nodeFromStat fills a node from lstat results. It does not read link
// targets or xattrs.
func (a *archiver) nodeFromStat(name string, st *unix.Stat_t) tree.Node {
	n := tree.Node{Name: name}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		n.Type = tree.File
		n.Size = uint64(st.Size)
	case syscall.S_IFDIR:
		n.Type = tree.Dir
	case syscall.S_IFLNK:
		n.Type = tree.Symlink
	case syscall.S_IFBLK:
		n.Type = tree.Device
	case syscall.S_IFCHR:
		n.Type = tree.CharDev
	case syscall.S_IFIFO:
		n.Type = tree.FIFO
	case syscall.S_IFSOCK:
		n.Type = tree.Socket
	default:
		n.Type = tree.Irregular
	}
	n.Mode = st.Mode & 0o7777
	n.UID, n.GID = st.Uid, st.Gid
	n.User, n.Group = a.names.user(st.Uid), a.names.group(st.Gid)
	n.ModTime = st.Mtim.Nano()
	n.AccessTime = st.Atim.Nano()
	n.ChangeTime = st.Ctim.Nano()
	n.Inode = st.Ino
	n.Device = st.Dev
	n.Links = uint64(st.Nlink)
	if !a.opts.WithAtime || n.Type == tree.Dir || n.Type == tree.Symlink {
		// Access times change whenever anything reads a file, so storing
		// them gives unchanged directories new trees every backup (as
		// restic, only with --with-atime). A directory's or link's never
		// is: listing it would change it (arca itself reads with O_NOATIME
		// where allowed, other programs do not).
		n.AccessTime = 0
	}
	if n.Type == tree.Device || n.Type == tree.CharDev {
		n.Rdev = st.Rdev
	}
	return n
}

// readXattrs returns the extended attributes of path (not following
// symlinks). File systems without xattr support give none.
func readXattrs(path string) ([]tree.Xattr, error) {
	return listXattrs(path,
		func(buf []byte) (int, error) { return unix.Llistxattr(path, buf) },
		func(name string, buf []byte) (int, error) { return unix.Lgetxattr(path, name, buf) })
}

// listXattrs reads extended attributes with list and get, the calls for a
// path or an open file; path names the file in errors.
// xattrNames holds the 1 KiB buffers listXattrs lists names into: every
// new file needs one, and allocating it each time made 1 KiB of garbage
// per file (300 MB for 300,000 small files).
var xattrNames = sync.Pool{New: func() any { b := make([]byte, 1024); return &b }}

func listXattrs(path string, list func(buf []byte) (int, error), get func(name string, buf []byte) (int, error)) ([]tree.Xattr, error) {
	pooled := xattrNames.Get().(*[]byte)
	defer xattrNames.Put(pooled) // names are copied out (splitNull)
	buf := *pooled
	var n int
	var err error
	for {
		n, err = list(buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		break
	}
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, nil
		}
		return nil, &os.PathError{Op: "listxattr", Path: path, Err: err}
	}
	var out []tree.Xattr
	for _, name := range splitNull(buf[:n]) {
		val, err := getXattr(get, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		} else if err != nil {
			return nil, &os.PathError{Op: "getxattr " + name, Path: path, Err: err}
		}
		out = append(out, tree.Xattr{Name: name, Value: val})
	}
	return out, nil
}

func getXattr(get func(name string, buf []byte) (int, error), name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := get(name, buf)
		if errors.Is(err, unix.ERANGE) {
			sz, err := get(name, nil)
			if err != nil {
				return nil, err
			}
			buf = make([]byte, sz+1)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

func splitNull(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}

// openNoatime opens a file or directory for reading without updating its
// access time when the process may (it owns the file or is root). A backup
// must not change what it backs up: a directory's atime is in its tree, so
// listing directories with a plain open would make the next backup store
// every tree again.
func openNoatime(path string) (*os.File, error) {
	// O_NONBLOCK: if a FIFO took the file's place since it was listed,
	// opening it must not wait for a writer. It does nothing for regular
	// files.
	const flags = os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	f, err := os.OpenFile(path, flags|syscall.O_NOATIME, 0)
	if err == nil {
		return f, nil
	}
	if errors.Is(err, syscall.EPERM) {
		return os.OpenFile(path, flags, 0)
	}
	return nil, err
}

// readNoatime reads a whole small file without updating its access time.
func readNoatime(path string) ([]byte, error) {
	f, err := openNoatime(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
