package backup

import (
	"errors"
	"io"
	"os"
	"sync/atomic"

	"github.com/arcabackup/arca/repo/tree"
	"golang.org/x/sys/unix"
)

// Per-file system calls are most of the cost of backing up many small
// files. Entries are stat'ed and opened relative to their directory's
// handle, which spares the kernel a walk of the whole path each time, and
// files are read with plain system calls rather than through os.File,
// which registers every file with the poller and sets a finalizer.
// Measured on this machine for files 4 levels deep: lstat by path 4.6 µs,
// fstatat 2.0 µs; open, fstat, two reads, fstat and close through os.File
// 23.7 µs, with openat and plain calls 9.8 µs.

// dirHandle is an open directory. The walk holds it while it lists the
// directory and each file handed to a reader holds it until the reader has
// opened the file; the last to let go closes it.
type dirHandle struct {
	f    *os.File
	fd   int
	refs atomic.Int32
}

func openDir(path string) (*dirHandle, error) {
	f, err := openNoatime(path)
	if err != nil {
		return nil, err
	}
	d := &dirHandle{f: f, fd: int(f.Fd())}
	d.refs.Store(1)
	return d, nil
}

func (d *dirHandle) hold() {
	if d != nil {
		d.refs.Add(1)
	}
}

func (d *dirHandle) release() {
	if d != nil && d.refs.Add(-1) == 0 {
		d.f.Close()
	}
}

// lstat stats name in dir without following a symlink; with no dir, path.
func lstat(dir *dirHandle, name, path string, st *unix.Stat_t) error {
	var err error
	for {
		if dir == nil {
			err = unix.Lstat(path, st)
		} else {
			err = unix.Fstatat(dir.fd, name, st, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	return nil
}

// rawFile is a file opened for reading with plain system calls.
type rawFile struct {
	fd   int
	path string
}

// openFile opens name in dir (path when dir is nil) for reading, without
// following a symlink, without waiting for a writer if a FIFO took its
// place, and without updating its access time where the process may.
func openFile(dir *dirHandle, name, path string) (*rawFile, error) {
	const flags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	open := func(flags int) (int, error) {
		for {
			var fd int
			var err error
			if dir == nil {
				fd, err = unix.Open(path, flags, 0)
			} else {
				fd, err = unix.Openat(dir.fd, name, flags, 0)
			}
			if err != unix.EINTR {
				return fd, err
			}
		}
	}
	fd, err := open(flags | unix.O_NOATIME)
	if errors.Is(err, unix.EPERM) {
		fd, err = open(flags)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &rawFile{fd: fd, path: path}, nil
}

func (f *rawFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(f.fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, &os.PathError{Op: "read", Path: f.path, Err: err}
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// readSmall reads into buf until it is full or the file ends, and returns
// the bytes read. A read of a regular file returns less than asked only at
// the file's end, so a short read that brings the total to size (the
// file's stat size) ends it: one read for a whole small file rather than a
// second one to see the end. A file that grew meanwhile is caught by the
// stat after reading (finishFile).
func (f *rawFile) readSmall(buf []byte, size int) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
		if n >= size && n < len(buf) {
			return n, nil
		}
	}
	return n, nil
}

func (f *rawFile) stat(st *unix.Stat_t) error {
	if err := unix.Fstat(f.fd, st); err != nil {
		return &os.PathError{Op: "fstat", Path: f.path, Err: err}
	}
	return nil
}

func (f *rawFile) rewind() error {
	if _, err := unix.Seek(f.fd, 0, io.SeekStart); err != nil {
		return &os.PathError{Op: "seek", Path: f.path, Err: err}
	}
	return nil
}

func (f *rawFile) Close() error { return unix.Close(f.fd) }

// xattrs returns the open file's extended attributes.
func (f *rawFile) xattrs() ([]tree.Xattr, error) {
	return listXattrs(f.path,
		func(buf []byte) (int, error) { return unix.Flistxattr(f.fd, buf) },
		func(name string, buf []byte) (int, error) { return unix.Fgetxattr(f.fd, name, buf) })
}
