package beneath

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// setup makes root/ holding a real directory "d", a symlink "ln" to an
// outside directory, a symlink "lf" to an outside file, and a FIFO; it
// returns the open root and the outside directory.
func setup(t *testing.T) (*Dir, string) {
	t.Helper()
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "d", "e"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.WriteFile(filepath.Join(outside, "file"), []byte("outside"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(root, "ln")))
	must(t, os.Symlink(filepath.Join(outside, "file"), filepath.Join(root, "lf")))
	must(t, unix.Mkfifo(filepath.Join(root, "fifo"), 0o600))
	d, err := OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, outside
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenDirFollowsNoSymlink(t *testing.T) {
	d, _ := setup(t)
	for _, open := range []struct {
		name string
		fn   func(rel string) (int, error)
	}{
		{"openat2", func(rel string) (int, error) { return openat2Dir(d.fd, rel) }},
		{"walk", func(rel string) (int, error) { return walkDir(d.fd, rel) }},
	} {
		t.Run(open.name, func(t *testing.T) {
			fd, err := open.fn("d/e")
			if err != nil {
				t.Fatalf("d/e: %v", err)
			}
			unix.Close(fd)
			for _, rel := range []string{"ln", "ln/x", "d/../ln", "lf", "fifo"} {
				if fd, err := open.fn(rel); err == nil {
					unix.Close(fd)
					t.Errorf("%s opened; want an error", rel)
				}
			}
		})
	}
	for _, rel := range []string{"..", "d/..", "../root", "d/./e", "ln"} {
		if sub, err := d.OpenDir(rel); err == nil {
			sub.Close()
			t.Errorf("OpenDir(%q) succeeded", rel)
		}
	}
	if _, err := d.OpenDir("ln"); !errors.Is(err, ErrSymlink) {
		t.Errorf("OpenDir(ln) = %v; want ErrSymlink", err)
	}
}

func TestOpenFileRefusesSymlinksAndFIFOs(t *testing.T) {
	d, outside := setup(t)
	if _, err := d.OpenFile("lf", unix.O_WRONLY); !errors.Is(err, ErrSymlink) {
		t.Errorf("OpenFile(lf) = %v; want ErrSymlink", err)
	}
	// A FIFO with no writer would block a plain open for reading.
	if _, err := d.OpenFile("fifo", unix.O_RDONLY); !errors.Is(err, ErrNotRegular) {
		t.Errorf("OpenFile(fifo) = %v; want ErrNotRegular", err)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "file")); string(b) != "outside" {
		t.Errorf("outside file changed: %q", b)
	}
}

func TestCreateRenameReplaceSymlink(t *testing.T) {
	d, outside := setup(t)
	name := RandomName(".tmp-")
	f, err := d.Create(name, 0o600)
	must(t, err)
	must(t, d.Symlink("x", "planted"))
	if _, err := d.Create("planted", 0o600); !errors.Is(err, os.ErrExist) {
		t.Errorf("Create over a symlink = %v; want ErrExist", err)
	}
	f.WriteString("inside")
	f.Close()
	// Renaming over the symlink replaces the link, not its target.
	must(t, d.Rename(name, "lf"))
	if b, _ := os.ReadFile(filepath.Join(outside, "file")); string(b) != "outside" {
		t.Errorf("outside file changed: %q", b)
	}
	fi, err := os.Lstat(d.Join("lf"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Errorf("lf is %v, %v; want the new regular file", fi.Mode(), err)
	}
}

func TestEntryMetadataStaysOnTheLink(t *testing.T) {
	d, outside := setup(t)
	target := filepath.Join(outside, "file")
	var before unix.Stat_t
	must(t, unix.Stat(target, &before))
	e, err := d.Open("lf")
	must(t, err)
	defer e.Close()
	if e.Type() != unix.S_IFLNK {
		t.Fatalf("type %o; want a symlink", e.Type())
	}
	if err := e.Chmod(0o777); !errors.Is(err, ErrSymlinkMode) {
		t.Errorf("Chmod on a symlink = %v; want ErrSymlinkMode", err)
	}
	must(t, e.SetTimes(1e9, 2e9))
	e.Setxattr("user.x", []byte("1")) // refused for symlinks; must not reach the target
	if os.Geteuid() == 0 {
		must(t, e.Chown(4242, 4242))
	}
	var after, link unix.Stat_t
	must(t, unix.Stat(target, &after))
	must(t, unix.Lstat(d.Join("lf"), &link))
	if after.Mode != before.Mode || after.Uid != before.Uid || after.Mtim != before.Mtim {
		t.Errorf("target changed: mode %o uid %d mtime %v; was %o %d %v", after.Mode, after.Uid, after.Mtim, before.Mode, before.Uid, before.Mtim)
	}
	if sz, _ := unix.Getxattr(target, "user.x", nil); sz > 0 {
		t.Errorf("xattr set on the target")
	}
	if link.Mtim.Sec != 2 {
		t.Errorf("link mtime %v; want 2 s", link.Mtim)
	}
	if os.Geteuid() == 0 && link.Uid != 4242 {
		t.Errorf("link owner %d; want 4242", link.Uid)
	}
}

func TestEntryOnFIFO(t *testing.T) {
	d, _ := setup(t)
	e, err := d.Open("fifo")
	must(t, err)
	defer e.Close()
	must(t, e.Chmod(0o640))
	must(t, e.SetTimes(3e9, 4e9))
	var st unix.Stat_t
	must(t, unix.Lstat(d.Join("fifo"), &st))
	if st.Mode&0o7777 != 0o640 || st.Mtim.Sec != 4 {
		t.Errorf("fifo mode %o mtime %v; want 640 and 4 s", st.Mode&0o7777, st.Mtim)
	}
}

func TestRemoveAllStaysInside(t *testing.T) {
	d, outside := setup(t)
	must(t, os.Symlink(outside, d.Join("d/e/inner-link")))
	must(t, os.WriteFile(d.Join("d/e/f"), []byte("x"), 0o644))
	must(t, d.RemoveAll("d"))
	must(t, d.RemoveAll("ln"))
	if _, err := os.Lstat(d.Join("d")); !os.IsNotExist(err) {
		t.Errorf("d still there: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "file")); err != nil || string(b) != "outside" {
		t.Errorf("outside file: %q, %v", b, err)
	}
	must(t, d.RemoveAll("missing"))
}

func TestMakeTempRetries(t *testing.T) {
	d, _ := setup(t)
	calls := 0
	name, err := d.MakeTemp(".x-", func(name string) error {
		calls++
		if calls < 3 {
			return unix.EEXIST
		}
		return d.Symlink("t", name)
	})
	must(t, err)
	if calls != 3 {
		t.Errorf("%d calls; want 3", calls)
	}
	if got, err := d.Readlink(name); err != nil || got != "t" {
		t.Errorf("Readlink = %q, %v", got, err)
	}
}
