package mount_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/mount"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/snapshot"
	"golang.org/x/sys/unix"
)

// TestMount mounts two snapshots through the kernel and reads them back.
func TestMount(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	r := repotest.New(t)
	src := filepath.Join(t.TempDir(), "src")
	fstest.Generate(t, src, 6)
	first, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, Hostname: "alpha", Tags: []string{"nightly"}})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "small.txt"), []byte("second version"), 0o644)
	second, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, Hostname: "beta"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := snapshot.List(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	server, err := mount.Mount(r, list, mnt, mount.Options{})
	if err != nil {
		t.Skipf("cannot mount here: %v", err)
	}
	t.Cleanup(func() { server.Unmount() })
	if err := server.WaitMount(); err != nil {
		t.Fatal(err)
	}
	// Setuid bits and device nodes in snapshots are never honoured.
	mounts, _ := os.ReadFile("/proc/self/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[1] == mnt {
			for _, opt := range []string{"ro", "nosuid", "nodev"} {
				if !slices.Contains(strings.Split(f[3], ","), opt) {
					t.Errorf("mounted with %s; want %s", f[3], opt)
				}
			}
		}
	}

	ls := func(p string) []string {
		t.Helper()
		entries, err := os.ReadDir(filepath.Join(mnt, p))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	if got := ls("."); !slices.Equal(got, []string{"hosts", "ids", "snapshots", "tags"}) {
		t.Errorf("root: %q", got)
	}
	if got := ls("hosts"); !slices.Equal(got, []string{"alpha", "beta"}) {
		t.Errorf("hosts: %q", got)
	}
	if got := ls("tags"); !slices.Equal(got, []string{"nightly"}) {
		t.Errorf("tags: %q", got)
	}
	if got := ls("ids"); !slices.Contains(got, first.ID.Short()) || !slices.Contains(got, second.ID.Short()) {
		t.Errorf("ids: %q", got)
	}
	if got := ls("snapshots"); len(got) != 3 || !slices.Contains(got, "latest") {
		t.Errorf("snapshots: %q", got)
	}
	latest, err := os.ReadFile(filepath.Join(mnt, "snapshots", "latest", src, "small.txt"))
	if err != nil || string(latest) != "second version" {
		t.Errorf("snapshots/latest/.../small.txt = %q, %v", latest, err)
	}
	old, err := os.ReadFile(filepath.Join(mnt, "tags", "nightly", ls("tags/nightly")[0], src, "small.txt"))
	if err != nil || string(old) != "hello, arca\n" {
		t.Errorf("the tagged snapshot's small.txt = %q, %v", old, err)
	}

	// Everything of the second snapshot, read through the kernel, is
	// the source: contents, modes, times, link targets, xattrs.
	root := filepath.Join(mnt, "ids", second.ID.Short(), src)
	n := 0
	filepath.Walk(src, func(p string, want os.FileInfo, err error) error {
		rel, _ := filepath.Rel(src, p)
		mp := filepath.Join(root, rel)
		got, err := os.Lstat(mp)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		n++
		if got.Mode() != want.Mode() || (!want.IsDir() && !got.ModTime().Equal(want.ModTime())) {
			t.Errorf("%s: mode %v mtime %v; want %v %v", rel, got.Mode(), got.ModTime(), want.Mode(), want.ModTime())
		}
		switch {
		case want.Mode().IsRegular():
			a, _ := os.ReadFile(p)
			b, err := os.ReadFile(mp)
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s: content differs (%d bytes, %v; want %d)", rel, len(b), err, len(a))
			}
		case want.Mode()&os.ModeSymlink != 0:
			a, _ := os.Readlink(p)
			b, _ := os.Readlink(mp)
			if a != b {
				t.Errorf("%s: link to %q; want %q", rel, b, a)
			}
		}
		if attrs := xattrs(p); len(attrs) > 0 && !slices.Equal(attrs, xattrs(mp)) {
			t.Errorf("%s: xattrs %q; want %q", rel, xattrs(mp), attrs)
		}
		return nil
	})
	if n < 50 {
		t.Errorf("compared only %d entries", n)
	}
	// Read-only.
	if err := os.WriteFile(filepath.Join(root, "new"), []byte("x"), 0o644); err == nil {
		t.Error("wrote a file into the mount")
	}
}

func xattrs(p string) []string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil
	}
	var out []string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if !strings.HasPrefix(name, "user.") {
			continue
		}
		v := make([]byte, 4096)
		m, _ := unix.Lgetxattr(p, name, v)
		out = append(out, name+"="+string(v[:max(m, 0)]))
	}
	return out
}
