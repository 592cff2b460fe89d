package beneath

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrSymlink is wrapped when a symlink is where an operation needs a
// directory or a file: it is never followed.
var ErrSymlink = errors.New("beneath: a symlink is in the way")

// ErrNotRegular is wrapped when OpenFile finds something other than a
// regular file.
var ErrNotRegular = errors.New("beneath: not a regular file")

// ErrInvalidName is wrapped when a name is empty, ".", "..", or holds '/'
// or NUL.
var ErrInvalidName = errors.New("beneath: invalid name")

// Dir is an open directory. Its methods are safe for concurrent use; Close
// must not race with them.
type Dir struct {
	fd   int
	path string // what it was opened as, for messages
}

// OpenRoot opens the directory at path. The path itself is resolved
// normally (symlinks in it are the caller's choice); everything beneath the
// returned Dir is not.
func OpenRoot(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{fd: fd, path: path}, nil
}

// Close closes the handle.
func (d *Dir) Close() error {
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// Path returns the path the directory was opened as.
func (d *Dir) Path() string { return d.path }

// Join returns the path of the entry name, for messages.
func (d *Dir) Join(name string) string { return filepath.Join(d.path, name) }

// Fd returns the file descriptor (owned by d).
func (d *Dir) Fd() int { return d.fd }

// ValidName reports whether name is a single path element.
func ValidName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

func (d *Dir) err(op, name string, err error) error {
	if errors.Is(err, unix.ELOOP) {
		err = ErrSymlink
	}
	return &os.PathError{Op: op, Path: d.Join(name), Err: err}
}

func (d *Dir) check(op, name string) error {
	if !ValidName(name) {
		return &os.PathError{Op: op, Path: d.Join(name), Err: ErrInvalidName}
	}
	return nil
}

// OpenDir opens the directory at rel, one or more slash-separated names
// beneath d, following no symlink in any component. An empty rel or "."
// opens d again.
func (d *Dir) OpenDir(rel string) (*Dir, error) {
	rel = strings.Trim(rel, "/")
	if rel == "" || rel == "." {
		fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, d.err("open", ".", err)
		}
		return &Dir{fd: fd, path: d.path}, nil
	}
	for _, elem := range strings.Split(rel, "/") {
		if err := d.check("open", elem); err != nil {
			return nil, err
		}
	}
	fd, err := openat2Dir(d.fd, rel)
	if err == unix.ENOSYS || err == unix.EPERM {
		// No openat2 (before Linux 5.6, or a seccomp filter that does not
		// know it): the component walk is as safe, only slower.
		fd, err = walkDir(d.fd, rel)
	}
	if err == unix.ENOTDIR {
		// O_DIRECTORY|O_NOFOLLOW reports a symlink as "not a directory";
		// say which it is (a look, not an operation, so the path is fine).
		var st unix.Stat_t
		if unix.Fstatat(d.fd, rel, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			err = unix.ELOOP
		}
	}
	if err != nil {
		return nil, d.err("open", rel, err)
	}
	return &Dir{fd: fd, path: d.Join(rel)}, nil
}

const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

func openat2Dir(dirfd int, rel string) (int, error) {
	how := &unix.OpenHow{
		Flags:   dirFlags,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	for range 8 {
		fd, err := unix.Openat2(dirfd, rel, how)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue // a concurrent rename made the kernel unsure: try again
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// walkDir opens rel one component at a time with O_NOFOLLOW, for kernels
// without openat2. Components were checked by the caller.
func walkDir(dirfd int, rel string) (int, error) {
	cur := -1
	for _, elem := range strings.Split(rel, "/") {
		from := dirfd
		if cur >= 0 {
			from = cur
		}
		fd, err := unix.Openat(from, elem, dirFlags, 0)
		if cur >= 0 {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur = fd
	}
	return cur, nil
}

// Lstat returns the status of the entry name, not following a symlink.
func (d *Dir) Lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := d.check("lstat", name); err != nil {
		return st, err
	}
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, &os.PathError{Op: "lstat", Path: d.Join(name), Err: err}
	}
	return st, nil
}

// Mkdir creates the directory name with permissions perm (less the
// umask).
func (d *Dir) Mkdir(name string, perm uint32) error {
	if err := d.check("mkdir", name); err != nil {
		return err
	}
	if err := unix.Mkdirat(d.fd, name, perm); err != nil {
		return d.err("mkdir", name, err)
	}
	return nil
}

// RandomName returns prefix followed by 16 random hex digits: a name
// nobody can predict and plant something at beforehand.
func RandomName(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Create makes the new regular file name (O_CREAT|O_EXCL|O_NOFOLLOW), open
// for reading and writing. It fails with an error wrapping os.ErrExist if
// anything, a symlink included, is at name already.
func (d *Dir) Create(name string, perm uint32) (*os.File, error) {
	if err := d.check("create", name); err != nil {
		return nil, err
	}
	fd, err := unix.Openat(d.fd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: d.Join(name), Err: err}
	}
	return os.NewFile(uintptr(fd), d.Join(name)), nil
}

// MakeTemp creates an entry with an unpredictable name starting with
// prefix by calling mk with candidate names until one does not exist yet.
// mk must fail with EEXIST rather than replace or follow anything
// (symlinkat, mknodat, mkdirat and linkat do). It returns the name.
func (d *Dir) MakeTemp(prefix string, mk func(name string) error) (string, error) {
	for range 100 {
		name := RandomName(prefix)
		err := mk(name)
		if errors.Is(err, unix.EEXIST) || errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return name, nil
	}
	return "", d.err("create", prefix+"*", unix.EEXIST)
}

// OpenFile opens the existing regular file name with flag (O_RDONLY,
// O_WRONLY or O_RDWR, and no O_CREAT), never following a symlink and never
// blocking on a FIFO. Anything but a regular file is refused with
// ErrNotRegular.
func (d *Dir) OpenFile(name string, flag int) (*os.File, error) {
	if err := d.check("open", name); err != nil {
		return nil, err
	}
	flag &^= unix.O_CREAT | unix.O_TRUNC
	fd, err := unix.Openat(d.fd, name, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, d.err("open", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, d.err("stat", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, d.err("open", name, ErrNotRegular)
	}
	return os.NewFile(uintptr(fd), d.Join(name)), nil
}

// Rename renames old to new within d, atomically replacing what is at new
// unless it is a directory. A symlink at new is replaced, not followed.
func (d *Dir) Rename(old, new string) error {
	if err := d.check("rename", old); err != nil {
		return err
	}
	if err := d.check("rename", new); err != nil {
		return err
	}
	if err := unix.Renameat(d.fd, old, d.fd, new); err != nil {
		return d.err("rename", new, err)
	}
	return nil
}

// Remove removes the entry name: a file, symlink, special file or empty
// directory.
func (d *Dir) Remove(name string) error {
	if err := d.check("remove", name); err != nil {
		return err
	}
	err := unix.Unlinkat(d.fd, name, 0)
	if err == unix.EISDIR {
		err = unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR)
	}
	if err != nil {
		return d.err("remove", name, err)
	}
	return nil
}

// RemoveAll removes the entry name and, if it is a directory, everything
// in it, descending through directory handles only. A missing entry is not
// an error.
func (d *Dir) RemoveAll(name string) error {
	if err := d.check("remove", name); err != nil {
		return err
	}
	err := unix.Unlinkat(d.fd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR {
		return d.err("remove", name, err)
	}
	sub, err := d.OpenDir(name)
	if err != nil {
		return err
	}
	names, err := sub.Names()
	for _, n := range names {
		if rerr := sub.RemoveAll(n); rerr != nil && err == nil {
			err = rerr
		}
	}
	sub.Close()
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return d.err("remove", name, err)
	}
	return nil
}

// Names returns the names of the entries of d, in directory order.
func (d *Dir) Names() ([]string, error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	return f.Readdirnames(-1)
}

// Symlink creates the symlink name pointing to target.
func (d *Dir) Symlink(target, name string) error {
	if err := d.check("symlink", name); err != nil {
		return err
	}
	if err := unix.Symlinkat(target, d.fd, name); err != nil {
		return &os.PathError{Op: "symlink", Path: d.Join(name), Err: err}
	}
	return nil
}

// Mknod creates a FIFO or a device node name; mode holds the type bits
// (S_IFIFO, S_IFCHR, S_IFBLK) and the permissions (less the umask).
func (d *Dir) Mknod(name string, mode uint32, dev uint64) error {
	if err := d.check("mknod", name); err != nil {
		return err
	}
	if err := unix.Mknodat(d.fd, name, mode, int(dev)); err != nil {
		return &os.PathError{Op: "mknod", Path: d.Join(name), Err: err}
	}
	return nil
}

// Link makes name in d a hard link to the entry oldName of from. A symlink
// at oldName is linked itself, not followed.
func (d *Dir) Link(from *Dir, oldName, name string) error {
	if err := from.check("link", oldName); err != nil {
		return err
	}
	if err := d.check("link", name); err != nil {
		return err
	}
	if err := unix.Linkat(from.fd, oldName, d.fd, name, 0); err != nil {
		return &os.LinkError{Op: "link", Old: from.Join(oldName), New: d.Join(name), Err: err}
	}
	return nil
}

// Readlink returns the target of the symlink name.
func (d *Dir) Readlink(name string) (string, error) {
	if err := d.check("readlink", name); err != nil {
		return "", err
	}
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(d.fd, name, buf)
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: d.Join(name), Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
