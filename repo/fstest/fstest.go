// Package fstest generates file trees with every node type and compares
// trees for backup and restore tests.
package fstest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Generate fills dir with a tree holding regular files of many sizes
// (empty, small, several chunks, sparse), nested and empty directories,
// symlinks (also dangling), hard links, a FIFO, device nodes (as root),
// names that are not valid UTF-8, xattrs and unusual modes. It returns the tree's total file bytes.
func Generate(t testing.TB, dir string, seed uint64) int64 {
	t.Helper()
	rng := mrand.New(mrand.NewPCG(seed, seed))
	var total int64
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, data, 0o644))
		total += int64(len(data))
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	write("empty", nil)
	write("small.txt", []byte("hello, arca\n"))
	write("dir/a/b/c/deep.txt", []byte("deep"))
	write("dir/text.go", bytes.Repeat([]byte("package main // text compresses\n"), 5000))
	write("dir/random.bin", random(3<<20+12345))
	for i := range 40 {
		write(fmt.Sprintf("many/f%03d", i), random(rng.IntN(9000)))
	}
	write("dup1", bytes.Repeat([]byte{7}, 700<<10))
	write("dup2", bytes.Repeat([]byte{7}, 700<<10))
	must(os.MkdirAll(filepath.Join(dir, "emptydir"), 0o755))
	// Names that are not valid UTF-8 survive exactly.
	write("bad-\xff\xfe-name", []byte("latin1"))
	write("dir/\xe9t\xe9", random(100))
	// Symlinks, including a dangling one and one with a non-UTF-8 target.
	must(os.Symlink("small.txt", filepath.Join(dir, "link")))
	must(os.Symlink("/nonexistent/target", filepath.Join(dir, "dangling")))
	must(os.Symlink("bad-\xff\xfe-name", filepath.Join(dir, "link-bad")))
	// Hard links.
	write("hard1", random(5000))
	must(os.Link(filepath.Join(dir, "hard1"), filepath.Join(dir, "dir/hard2")))
	must(os.Link(filepath.Join(dir, "hard1"), filepath.Join(dir, "many/hard3")))
	// A sparse file: 4 MiB hole, data, 4 MiB hole.
	sp, err := os.Create(filepath.Join(dir, "sparse"))
	must(err)
	_, err = sp.WriteAt([]byte("in the middle"), 4<<20)
	must(err)
	must(sp.Truncate(8 << 20))
	must(sp.Close())
	total += 8 << 20
	// A FIFO, and as root a character and a block device.
	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o640))
	if os.Geteuid() == 0 {
		must(unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(unix.Mknod(filepath.Join(dir, "dir/loop"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))))
	}
	// Modes.
	write("exec.sh", []byte("#!/bin/sh\n"))
	must(os.Chmod(filepath.Join(dir, "exec.sh"), 0o755))
	write("private", []byte("secret"))
	must(os.Chmod(filepath.Join(dir, "private"), 0o600))
	must(os.Chmod(filepath.Join(dir, "emptydir"), 0o750|fs.ModeSetgid))
	// Xattrs.
	must(unix.Setxattr(filepath.Join(dir, "small.txt"), "user.arca", []byte("value"), 0))
	must(unix.Setxattr(filepath.Join(dir, "dir"), "user.empty", nil, 0))
	// Times: set distinct mtimes on everything but symlinks, directories last.
	var dirs []string
	must(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		ts := []unix.Timespec{unix.NsecToTimespec(1_600_000_000_123_456_789 + rng.Int64N(1e15)), unix.NsecToTimespec(1_500_000_000_987_654_321 + rng.Int64N(1e15))}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	}))
	slices.Reverse(dirs)
	for _, p := range dirs {
		ts := []unix.Timespec{unix.NsecToTimespec(1_400_000_000_000_000_001), unix.NsecToTimespec(1_450_000_000_000_000_002)}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0))
	}
	return total
}

// Entry is what Compare checks of one path.
type Entry struct {
	Mode    fs.FileMode
	ModTime int64
	Size    int64
	Target  string
	Content []byte
	Xattrs  map[string]string
	Inode   uint64 // for hard-link grouping
	Blocks  int64
	Rdev    uint64 // device nodes
}

// Scan reads the tree under dir into a map keyed by relative path.
func Scan(t testing.TB, dir string) map[string]Entry {
	t.Helper()
	out := map[string]Entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := Entry{Mode: fi.Mode(), ModTime: st.Mtim.Nano(), Inode: st.Ino, Blocks: st.Blocks}
		if fi.Mode()&fs.ModeDevice != 0 {
			e.Rdev = st.Rdev
		}
		switch {
		case fi.Mode().IsRegular():
			e.Size = fi.Size()
			e.Content, err = os.ReadFile(p)
			if err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Target, _ = os.Readlink(p)
			e.ModTime = 0 // symlink times are not compared
		}
		e.Xattrs = map[string]string{}
		buf := make([]byte, 4096)
		if n, err := unix.Llistxattr(p, buf); err == nil {
			for _, name := range bytes.Split(buf[:n], []byte{0}) {
				if len(name) == 0 {
					continue
				}
				v := make([]byte, 4096)
				m, err := unix.Lgetxattr(p, string(name), v)
				if err != nil && !errors.Is(err, unix.ENODATA) {
					return err
				}
				e.Xattrs[string(name)] = string(v[:max(m, 0)])
			}
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Compare fails the test if the trees under want and got differ in
// content, type, mode, mtime, symlink target, xattrs or hard-link
// structure. The root directory's own metadata is not compared.
func Compare(t testing.TB, want, got string) {
	t.Helper()
	w, g := Scan(t, want), Scan(t, got)
	for p := range w {
		if _, ok := g[p]; !ok {
			t.Errorf("%q missing from the restored tree", p)
		}
	}
	for p := range g {
		if _, ok := w[p]; !ok {
			t.Errorf("%q is restored but was not in the original", p)
		}
	}
	// Hard links: paths sharing an inode in want must share one in got.
	groups := map[uint64][]string{}
	for p, e := range w {
		if e.Mode.IsRegular() {
			groups[e.Inode] = append(groups[e.Inode], p)
		}
	}
	for _, paths := range groups {
		for _, p := range paths[1:] {
			if g[p].Inode != g[paths[0]].Inode {
				t.Errorf("%q and %q are hard links in the original but not restored as such", p, paths[0])
			}
		}
	}
	for p, we := range w {
		ge, ok := g[p]
		if !ok || p == "." {
			continue
		}
		if we.Mode != ge.Mode {
			t.Errorf("%q: mode %v; want %v", p, ge.Mode, we.Mode)
		}
		if we.Rdev != ge.Rdev {
			t.Errorf("%q: device %#x; want %#x", p, ge.Rdev, we.Rdev)
		}
		if we.ModTime != ge.ModTime {
			t.Errorf("%q: mtime %d; want %d", p, ge.ModTime, we.ModTime)
		}
		if we.Target != ge.Target {
			t.Errorf("%q: symlink target %q; want %q", p, ge.Target, we.Target)
		}
		if !bytes.Equal(we.Content, ge.Content) {
			t.Errorf("%q: content differs (%d bytes; want %d)", p, len(ge.Content), len(we.Content))
		}
		if fmt.Sprint(we.Xattrs) != fmt.Sprint(ge.Xattrs) {
			t.Errorf("%q: xattrs %v; want %v", p, ge.Xattrs, we.Xattrs)
		}
	}
}

// WriteFiles creates the files of files (relative path -> content) under
// root, with their directories.
func WriteFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
