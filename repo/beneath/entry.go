package beneath

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Entry is a handle on one file-system object, for reading and setting its
// metadata. It was opened without following a symlink, so every change
// lands on that object: a regular file or directory opened for I/O, or
// anything else (a symlink, FIFO, device node, socket) opened with O_PATH,
// whose mode, xattrs and times are then set through /proc/self/fd, which
// refers to the object itself.
type Entry struct {
	fd     int
	owned  bool
	path   bool   // an O_PATH handle
	typ    uint32 // unix.S_IFMT bits
	st     unix.Stat_t
	statOK bool // st was read
	name   string
}

// Open opens the entry name for its metadata, not following a symlink. It
// neither reads nor blocks on what it opens (O_PATH).
func (d *Dir) Open(name string) (*Entry, error) {
	if err := d.check("open", name); err != nil {
		return nil, err
	}
	fd, err := unix.Openat(d.fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.Join(name), Err: err}
	}
	e := &Entry{fd: fd, owned: true, path: true, name: d.Join(name)}
	if err := e.stat(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// FileEntry returns an Entry for a regular file open for writing; f stays
// the caller's. Its status is read only if Stat is called.
func FileEntry(f *os.File) *Entry {
	return &Entry{fd: int(f.Fd()), typ: unix.S_IFREG, name: f.Name()}
}

// Entry returns an Entry for the directory itself; d stays the caller's.
func (d *Dir) Entry() (*Entry, error) { return fdEntry(d.fd, d.path) }

func fdEntry(fd int, name string) (*Entry, error) {
	e := &Entry{fd: fd, name: name}
	if err := e.stat(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Entry) stat() error {
	if err := unix.Fstat(e.fd, &e.st); err != nil {
		return &os.PathError{Op: "stat", Path: e.name, Err: err}
	}
	e.typ, e.statOK = e.st.Mode&unix.S_IFMT, true
	return nil
}

// Close closes the handle if Open made it.
func (e *Entry) Close() error {
	if !e.owned || e.fd < 0 {
		return nil
	}
	err := unix.Close(e.fd)
	e.fd = -1
	return err
}

// Stat returns the object's status as of opening (or of the first call,
// for a FileEntry; zero if it cannot be read).
func (e *Entry) Stat() *unix.Stat_t {
	if !e.statOK {
		e.stat()
	}
	return &e.st
}

// Type returns the object's type bits (unix.S_IFMT).
func (e *Entry) Type() uint32 { return e.typ }

// Name returns the path it was opened as, for messages.
func (e *Entry) Name() string { return e.name }

func (e *Entry) proc() string { return "/proc/self/fd/" + strconv.Itoa(e.fd) }

// Chown sets the owner of the object (of a symlink itself, not its target).
func (e *Entry) Chown(uid, gid int) error {
	if err := unix.Fchownat(e.fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "chown", Path: e.name, Err: err}
	}
	return nil
}

// ErrSymlinkMode is returned by Chmod on a symlink: Linux keeps no mode for
// symlinks.
var ErrSymlinkMode = errors.New("beneath: symlinks have no mode")

// Chmod sets the permission bits (07777) of the object.
func (e *Entry) Chmod(mode uint32) error {
	var err error
	switch {
	case e.Type() == unix.S_IFLNK:
		err = ErrSymlinkMode
	case !e.path:
		err = unix.Fchmod(e.fd, mode)
	default:
		err = unix.Chmod(e.proc(), mode)
	}
	if err != nil {
		return &os.PathError{Op: "chmod", Path: e.name, Err: err}
	}
	return nil
}

// Setxattr sets an extended attribute of the object.
func (e *Entry) Setxattr(name string, value []byte) error {
	var err error
	if e.path {
		err = unix.Setxattr(e.proc(), name, value, 0)
	} else {
		err = unix.Fsetxattr(e.fd, name, value, 0)
	}
	if err != nil {
		return &os.PathError{Op: "setxattr " + name, Path: e.name, Err: err}
	}
	return nil
}

// SetTimes sets the access and modification times (Unix nanoseconds) of
// the object.
func (e *Entry) SetTimes(atime, mtime int64) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime), unix.NsecToTimespec(mtime)}
	err := unix.UtimesNanoAt(e.fd, "", ts, unix.AT_EMPTY_PATH)
	if err == unix.ENOENT || err == unix.EINVAL {
		// Kernels without AT_EMPTY_PATH for utimensat: the /proc link
		// resolves to the object itself, also for a symlink.
		err = unix.UtimesNanoAt(unix.AT_FDCWD, e.proc(), ts, 0)
	}
	if err != nil {
		return &os.PathError{Op: "utimes", Path: e.name, Err: err}
	}
	return nil
}
