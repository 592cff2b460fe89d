package restore_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/restore"
	"golang.org/x/sys/unix"
)

// TestCreatedFiles: files are created with their mode and owner where that
// is safe and the rest is changed when they are complete; either way every
// restored file has the mode, owner and size it was backed up with, under
// any umask, in directories the restore creates (which need no lstat per
// name) and in ones that were there, setgid ones included.
func TestCreatedFiles(t *testing.T) {
	modes := []os.FileMode{0o644, 0o755, 0o600, 0o666, 0o400, 0o444, 0o640, 0o700, 0o777,
		0o755 | os.ModeSetuid, 0o755 | os.ModeSetgid, 0o644 | os.ModeSticky}
	src := filepath.Join(t.TempDir(), "src")
	type file struct {
		name     string
		mode     os.FileMode
		data     []byte
		uid, gid int
	}
	var files []file
	for i, m := range modes {
		files = append(files, file{name: fmt.Sprintf("d%d/f%02d", i%3, i), mode: m, data: []byte(fmt.Sprintf("file %d\n", i))})
	}
	tail := append(bytes.Repeat([]byte("x"), 5000), make([]byte, 3*4096)...)
	files = append(files,
		file{name: "d0/empty", mode: 0o644},
		file{name: "d1/zeros", mode: 0o644, data: make([]byte, 20000)},
		file{name: "d2/tailhole", mode: 0o644, data: tail},
	)
	root := os.Geteuid() == 0
	if root {
		files = append(files,
			file{name: "d0/other-owner", mode: 0o644, data: []byte("theirs"), uid: 1234, gid: 5678},
			file{name: "d1/other-group", mode: 0o600, data: []byte("group"), gid: 5678})
	}
	for _, f := range files {
		p := filepath.Join(src, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if root {
			if err := os.Chown(p, f.uid, f.gid); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	r := repotest.New(t)
	sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	// restoreInto restores the snapshot into target and checks every file.
	restoreInto := func(t *testing.T, target string) {
		t.Helper()
		if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target}); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			p := filepath.Join(target, src, f.name)
			fi, err := os.Lstat(p)
			if err != nil {
				t.Error(err)
				continue
			}
			if fi.Mode() != f.mode {
				t.Errorf("%s: mode %v; want %v", f.name, fi.Mode(), f.mode)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if root && (int(st.Uid) != f.uid || int(st.Gid) != f.gid) {
				t.Errorf("%s: owner %d:%d; want %d:%d", f.name, st.Uid, st.Gid, f.uid, f.gid)
			}
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, f.data) {
				t.Errorf("%s: %d bytes (%v); want %d", f.name, len(got), err, len(f.data))
			}
		}
	}
	for _, c := range []struct {
		name     string
		rootOnly bool                                     // the setup needs root
		setup    func(t *testing.T, target string) func() // prepares target; returns an undo
	}{
		{name: "fresh"},
		{name: "umask 077", setup: func(t *testing.T, target string) func() {
			old := unix.Umask(0o077)
			return func() { unix.Umask(old) }
		}},
		{name: "default ACL", setup: func(t *testing.T, target string) func() {
			// user::rw-, group::---, other::---: new files get at most
			// 0600 whatever the umask; every mode must still come out exact.
			acl := []byte{2, 0, 0, 0}
			for _, e := range [][2]uint16{{0x01, 6}, {0x04, 0}, {0x20, 0}} {
				acl = append(acl, byte(e[0]), byte(e[0]>>8), byte(e[1]), byte(e[1]>>8), 0xff, 0xff, 0xff, 0xff)
			}
			if err := unix.Setxattr(target, "system.posix_acl_default", acl, 0); err != nil {
				t.Skipf("no default ACL on %s: %v", target, err)
			}
			return nil
		}},
		{name: "existing setgid directories", rootOnly: true, setup: func(t *testing.T, target string) func() {
			for _, d := range []string{"d0", "d1", "d2"} {
				setgidDir(t, filepath.Join(target, src, d))
			}
			return nil
		}},
		{name: "fresh below a setgid directory", rootOnly: true, setup: func(t *testing.T, target string) func() {
			setgidDir(t, target)
			return nil
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.rootOnly && !root {
				t.Skip("needs root to own a directory's group")
			}
			target := t.TempDir()
			if c.setup != nil {
				if undo := c.setup(t, target); undo != nil {
					defer undo()
				}
			}
			restoreInto(t, target)
		})
	}
	// The zero tail of a file is left a hole, not written.
	target := t.TempDir()
	restoreInto(t, target)
	fi, err := os.Stat(filepath.Join(target, src, "d2/tailhole"))
	if err != nil {
		t.Fatal(err)
	}
	if blocks := fi.Sys().(*syscall.Stat_t).Blocks * 512; blocks > 8192 {
		t.Errorf("tailhole takes %d bytes on disk; want its zero tail left as a hole", blocks)
	}
}

// setgidDir makes directory p (and its parents) with group 4321 and the
// setgid bit, so files created in it get that group.
func setgidDir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 0, 4321); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o755|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
}
