package restore_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/restore"
	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

// The restore-safety suite: whatever a hostile local user plants in the
// target (symlinks at an entry's path, at its temporary name, at a parent,
// before or during the restore), nothing outside the target is written,
// chmod'ed, chown'ed or given new times. docs/design.md, "Restore never
// writes outside its target", states the rule these tests check.

// oldTempName is the predictable temporary name restores used to write
// to: ".arca-restore-" and the hex of the first 8 bytes of the BLAKE3 of
// the final name. A symlink planted there once redirected the write.
func oldTempName(name string) string {
	sum := blake3.Sum256([]byte(name))
	return fmt.Sprintf(".arca-restore-%x", sum[:8])
}

// outside is a directory beside the target standing for everything a
// restore must not touch.
type outside struct {
	dir   string
	state map[string]string
}

func newOutside(t *testing.T) *outside {
	t.Helper()
	o := &outside{dir: filepath.Join(t.TempDir(), "outside")}
	for _, d := range []string{"p2/dir", "dir"} {
		must(t, os.MkdirAll(filepath.Join(o.dir, d), 0o755))
	}
	for _, f := range []string{"sentinel", "p2/sentinel", "dir/sentinel"} {
		must(t, os.WriteFile(filepath.Join(o.dir, f), []byte("sentinel"), 0o640))
	}
	o.state = o.scan(t)
	return o
}

// scan records every entry's type, mode, owner, size, mtime, xattrs and
// content.
func (o *outside) scan(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(o.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		var content []byte
		if fi.Mode().IsRegular() {
			content, _ = os.ReadFile(p)
		}
		x := make([]byte, 1024)
		n, _ := unix.Llistxattr(p, x)
		out[p] = fmt.Sprintf("%v %o %d:%d %d %d %q %q", fi.Mode(), st.Mode, st.Uid, st.Gid, st.Size, st.Mtim.Nano(), x[:max(n, 0)], content)
		return nil
	})
	must(t, err)
	return out
}

func (o *outside) check(t *testing.T, what string) {
	t.Helper()
	now := o.scan(t)
	for p, s := range now {
		if o.state[p] != s {
			t.Errorf("%s: outside %s changed:\n  was %s\n  now %s", what, p, o.state[p], s)
		}
	}
	for p := range o.state {
		if _, ok := now[p]; !ok {
			t.Errorf("%s: outside %s was removed", what, p)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// safetySource makes a source tree with one entry of every node type in
// p1/p2, and returns it with the names of the entries.
func safetySource(t *testing.T) (string, []string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	d := filepath.Join(src, "p1", "p2")
	must(t, os.MkdirAll(filepath.Join(d, "dir"), 0o755))
	must(t, os.WriteFile(filepath.Join(d, "dir", "inner"), []byte("inner"), 0o644))
	must(t, os.WriteFile(filepath.Join(d, "file"), []byte("file content"), 0o644))
	must(t, os.WriteFile(filepath.Join(d, "hard"), []byte("hard link"), 0o644))
	must(t, os.Link(filepath.Join(d, "hard"), filepath.Join(d, "hard2")))
	must(t, os.Symlink("some/where", filepath.Join(d, "symlink")))
	must(t, unix.Mkfifo(filepath.Join(d, "fifo"), 0o644))
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(d, "sock"), Net: "unix"})
	must(t, err)
	l.SetUnlinkOnClose(false)
	l.Close()
	must(t, os.Chmod(filepath.Join(d, "sock"), 0o777))
	names := []string{"dir", "file", "hard2", "symlink", "fifo", "sock"}
	if os.Geteuid() == 0 {
		must(t, unix.Mknod(filepath.Join(d, "chr"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))))
		must(t, unix.Mknod(filepath.Join(d, "blk"), unix.S_IFBLK|0o644, int(unix.Mkdev(7, 200))))
		names = append(names, "chr", "blk")
	}
	return src, names
}

// TestPlantedSymlinks restores every node type with a symlink to the
// outside planted at its path, at its (old, predictable) temporary name
// and at each parent, and checks that the outside is untouched and that
// the snapshot's entry is in place.
func TestPlantedSymlinks(t *testing.T) {
	r := repotest.New(t)
	src, names := safetySource(t)
	sn := snap(t, r, src)
	for _, name := range names {
		for _, where := range []string{"path", "temp", "p1", "p2"} {
			for _, to := range []string{"sentinel", "dir"} {
				t.Run(name+"/"+where+"/"+to, func(t *testing.T) {
					out := newOutside(t)
					target := t.TempDir()
					must(t, os.MkdirAll(filepath.Join(target, "p1", "p2"), 0o755))
					var plant string
					switch where {
					case "path":
						plant = filepath.Join(target, "p1", "p2", name)
					case "temp":
						plant = filepath.Join(target, "p1", "p2", oldTempName(name))
					case "p1":
						must(t, os.RemoveAll(filepath.Join(target, "p1")))
						plant = filepath.Join(target, "p1")
					case "p2":
						must(t, os.RemoveAll(filepath.Join(target, "p1", "p2")))
						plant = filepath.Join(target, "p1", "p2")
					}
					dest := filepath.Join(out.dir, to)
					if where == "p1" {
						dest = out.dir // so that p1/p2 resolves to outside/p2
					}
					must(t, os.Symlink(dest, plant))
					err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src})
					out.check(t, "restore")
					if err != nil {
						t.Fatalf("restore: %v", err)
					}
					if name == "sock" {
						// Sockets are not recreated: what is there stays.
						fi, err := os.Lstat(plant)
						if where == "path" && (err != nil || fi.Mode()&os.ModeSymlink == 0) {
							t.Errorf("the planted symlink at the socket's path: %v, %v; want it left", fi, err)
						}
					} else {
						checkEntry(t, src, target, "p1/p2/"+name)
					}
					// A parent that was a symlink is a real directory now.
					for _, p := range []string{"p1", "p1/p2"} {
						if fi, err := os.Lstat(filepath.Join(target, p)); err != nil || !fi.IsDir() {
							t.Errorf("%s is %v, %v; want a directory", p, fi.Mode(), err)
						}
					}
					// Restoring again over the result changes nothing outside.
					must(t, restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src}))
					out.check(t, "second restore")
				})
			}
		}
	}
}

// checkEntry compares one restored entry's type, mode and content (or
// target) with the source.
func checkEntry(t *testing.T, src, target, rel string) {
	t.Helper()
	want, err := os.Lstat(filepath.Join(src, rel))
	must(t, err)
	got, err := os.Lstat(filepath.Join(target, rel))
	if err != nil {
		t.Fatalf("%s not restored: %v", rel, err)
	}
	if want.Mode() != got.Mode() {
		t.Errorf("%s: mode %v; want %v", rel, got.Mode(), want.Mode())
	}
	switch {
	case want.Mode().IsRegular():
		a, _ := os.ReadFile(filepath.Join(src, rel))
		b, _ := os.ReadFile(filepath.Join(target, rel))
		if string(a) != string(b) {
			t.Errorf("%s: content %q; want %q", rel, b, a)
		}
	case want.Mode()&os.ModeSymlink != 0:
		a, _ := os.Readlink(filepath.Join(src, rel))
		b, _ := os.Readlink(filepath.Join(target, rel))
		if a != b {
			t.Errorf("%s: target %q; want %q", rel, b, a)
		}
	}
}

// TestSnapshotHoldsTempName is the repro without crafting: a snapshot
// holding "victim" and a symlink at the old temporary name of "victim"
// that points outside. Restoring it must not create the outside file.
func TestSnapshotHoldsTempName(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	victim := filepath.Join(t.TempDir(), "created-outside")
	must(t, os.WriteFile(filepath.Join(src, "victim"), []byte("payload"), 0o644))
	must(t, os.Symlink(victim, filepath.Join(src, oldTempName("victim"))))
	sn := snap(t, r, src)
	target := t.TempDir()
	must(t, restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src}))
	if _, err := os.Lstat(victim); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the restore created %s outside its target (%v)", victim, err)
	}
	checkFile(t, filepath.Join(target, "victim"), []byte("payload"))
	if got, _ := os.Readlink(filepath.Join(target, oldTempName("victim"))); got != victim {
		t.Errorf("the snapshot's symlink is %q; want %q", got, victim)
	}
}

// TestPlantAtRandomTempName plants a symlink at the exact temporary name
// the restore is about to create, for every kind of temporary entry.
func TestPlantAtRandomTempName(t *testing.T) {
	r := repotest.New(t)
	src, _ := safetySource(t)
	sn := snap(t, r, src)
	out := newOutside(t)
	target := t.TempDir()
	planted, calls := 0, 0
	opts := restore.Options{Target: target, Root: src}
	// Plant at every other name: each entry finds its first name taken.
	restore.SetBeforeCreate(&opts, func(dir, name string) {
		calls++
		if calls%2 == 1 {
			must(t, os.Symlink(filepath.Join(out.dir, "sentinel"), filepath.Join(dir, name)))
			planted++
		}
	})
	must(t, restore.Run(t.Context(), r, sn, opts))
	out.check(t, "restore")
	if planted == 0 {
		t.Fatal("the hook planted nothing")
	}
	for _, name := range []string{"file", "hard", "hard2", "symlink", "fifo", "dir/inner"} {
		checkEntry(t, src, target, "p1/p2/"+name)
	}
}

// TestSwapDuringRestore replaces directories by symlinks to the outside
// while the restore runs: after the walk planned the files of a batch
// (so writes, renames and links would follow the swapped parent), and
// before directory metadata is applied.
func TestSwapDuringRestore(t *testing.T) {
	r := repotest.New(t)
	src, _ := safetySource(t)
	must(t, os.Chmod(filepath.Join(src, "p1", "p2"), 0o700))
	sn := snap(t, r, src)
	for _, when := range []string{"flush", "finalize"} {
		t.Run(when, func(t *testing.T) {
			out := newOutside(t)
			target := t.TempDir()
			opts := restore.Options{Target: target, Root: src}
			swapped := false
			swap := func() {
				if swapped {
					return
				}
				swapped = true
				p2 := filepath.Join(target, "p1", "p2")
				must(t, os.Rename(p2, p2+".moved"))
				must(t, os.Symlink(filepath.Join(out.dir, "p2"), p2))
			}
			if when == "flush" {
				restore.SetBeforeFlush(&opts, swap)
			} else {
				restore.SetBeforeFinalize(&opts, swap)
			}
			err := restore.Run(t.Context(), r, sn, opts)
			out.check(t, "restore")
			if !swapped {
				t.Fatal("the hook did not run")
			}
			t.Logf("restore: %v", err)
		})
	}
}

// TestRootRestoreIntoUserDirectory is the privilege case: root restores
// into a directory owned by nobody, who planted a symlink at a temporary
// name (and at the entry's path) pointing to a root-only file.
func TestRootRestoreIntoUserDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	r := repotest.New(t)
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "victim"), []byte("restored content"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "other"), []byte("other content"), 0o644))
	must(t, os.Lchown(filepath.Join(src, "victim"), uid, gid))
	sn := snap(t, r, src)

	secretDir := t.TempDir()
	must(t, os.Chmod(secretDir, 0o700))
	secret := filepath.Join(secretDir, "root-only")
	must(t, os.WriteFile(secret, []byte("root's secret"), 0o600))

	home := filepath.Join(t.TempDir(), "home")
	must(t, os.Mkdir(home, 0o755))
	must(t, os.Chown(home, uid, gid))
	for _, name := range []string{oldTempName("victim"), "other"} {
		p := filepath.Join(home, name)
		must(t, os.Symlink(secret, p))
		must(t, os.Lchown(p, uid, gid))
	}
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: home, Root: src}); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	must(t, unix.Stat(secret, &st))
	b, _ := os.ReadFile(secret)
	if string(b) != "root's secret" || st.Mode&0o7777 != 0o600 || st.Uid != 0 || st.Gid != 0 {
		t.Errorf("root-only file changed: %q mode %o owner %d:%d", b, st.Mode&0o7777, st.Uid, st.Gid)
	}
	checkFile(t, filepath.Join(home, "victim"), []byte("restored content"))
	checkFile(t, filepath.Join(home, "other"), []byte("other content"))
	must(t, unix.Lstat(filepath.Join(home, "victim"), &st))
	if int(st.Uid) != uid {
		t.Errorf("victim owned by %d; want nobody (%d)", st.Uid, uid)
	}
}

// TestSpecialNodeWithPlantedSymlink: a snapshot's socket with a symlink
// at its path (sockets are not recreated, so the restore once took
// whatever was there as the socket and chmod'ed through it).
func TestSpecialNodeWithPlantedSymlink(t *testing.T) {
	r := repotest.New(t)
	src, _ := safetySource(t)
	sn := snap(t, r, src)
	for _, mode := range []restore.Overwrite{restore.OverwriteIfChanged, restore.OverwriteAlways, restore.OverwriteIfNewer, restore.OverwriteNever} {
		t.Run(string(mode), func(t *testing.T) {
			out := newOutside(t)
			target := t.TempDir()
			d := filepath.Join(target, "p1", "p2")
			must(t, os.MkdirAll(d, 0o755))
			for _, name := range []string{"sock", "fifo", "symlink", "dir", "file"} {
				must(t, os.Symlink(filepath.Join(out.dir, "sentinel"), filepath.Join(d, name)))
			}
			err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Overwrite: mode})
			out.check(t, "restore")
			if err != nil && !errors.Is(err, restore.ErrIncomplete) {
				t.Fatal(err)
			}
		})
	}
}

// TestDeleteStaysInside: --delete removes what the snapshot does not
// have, but never follows a symlink to remove what it points to.
func TestDeleteStaysInside(t *testing.T) {
	r := repotest.New(t)
	src, _ := safetySource(t)
	sn := snap(t, r, src)
	out := newOutside(t)
	target := t.TempDir()
	d := filepath.Join(target, "p1", "p2")
	must(t, os.MkdirAll(d, 0o755))
	must(t, os.Symlink(filepath.Join(out.dir, "dir"), filepath.Join(d, "extra-link")))
	must(t, os.MkdirAll(filepath.Join(d, "extra-dir"), 0o755))
	must(t, os.Symlink(out.dir, filepath.Join(d, "extra-dir", "link")))
	must(t, restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Delete: true}))
	out.check(t, "restore --delete")
	names, _ := os.ReadDir(d)
	for _, e := range names {
		if strings.HasPrefix(e.Name(), "extra") {
			t.Errorf("%s was not deleted", e.Name())
		}
	}
}

// TestNoTemporaryLeftovers: a complete restore leaves no temporary
// entries and no journal behind.
func TestNoTemporaryLeftovers(t *testing.T) {
	r := repotest.New(t)
	src, _ := safetySource(t)
	sn := snap(t, r, src)
	target := t.TempDir()
	must(t, restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src}))
	var left []string
	filepath.Walk(target, func(p string, fi os.FileInfo, err error) error {
		if strings.HasPrefix(filepath.Base(p), ".arca-restore") {
			left = append(left, p)
		}
		return nil
	})
	slices.Sort(left)
	if len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
}
