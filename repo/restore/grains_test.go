package restore_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/filter"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/restore"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
)

// listFiles returns the regular files and symlinks under root with their
// contents (link targets), relative to root.
func listFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		}
		return nil
	})
	return out
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func snap(t *testing.T, r *repo.Repository, src string) *snapshot.Snapshot {
	t.Helper()
	sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func TestGrains(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{
		"etc/app.conf": "conf", "etc/db.conf": "db", "home/ann/notes.txt": "notes",
		"home/ann/photos/a.jpg": "jpeg", "home/bob/x.log": "log", "var/dump.sql": "sql",
	})
	sn := snap(t, r, src)
	pat := func(p ...string) *filter.List {
		l, err := filter.NewList(p, false)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, c := range []struct {
		name string
		opts restore.Options
		want []string
	}{
		{"subtree", restore.Options{Root: src + "/home/ann"}, []string{"notes.txt", "photos/a.jpg"}},
		{"one file", restore.Options{Root: src + "/var/dump.sql"}, []string{"dump.sql"}},
		{"include", restore.Options{Root: src, Include: pat("*.conf", "photos")},
			[]string{"etc/app.conf", "etc/db.conf", "home/ann/photos/a.jpg"}},
		{"include anchored", restore.Options{Root: src, Include: pat(src + "/home/bob")}, []string{"home/bob/x.log"}},
		{"exclude", restore.Options{Root: src, Exclude: pat("home", "*.sql")}, []string{"etc/app.conf", "etc/db.conf"}},
		{"include and exclude", restore.Options{Root: src, Include: pat("home"), Exclude: pat("*.jpg")},
			[]string{"home/ann/notes.txt", "home/bob/x.log"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := t.TempDir()
			c.opts.Target = target
			if err := restore.Run(t.Context(), r, sn, c.opts); err != nil {
				t.Fatal(err)
			}
			if got := keys(listFiles(t, target)); !slices.Equal(got, c.want) {
				t.Errorf("restored %q; want %q", got, c.want)
			}
		})
	}
	// A path the snapshot does not have is an error naming it.
	err := restore.Run(t.Context(), r, sn, restore.Options{Target: t.TempDir(), Root: src + "/nope"})
	if err == nil || !strings.Contains(err.Error(), "/nope") {
		t.Errorf("missing root: %v", err)
	}
}

// TestOverwriteModes restores over a target where one file is unchanged,
// one has other content with the same size and mtime... every case once
// per mode.
func TestOverwriteModes(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"same": "same", "older": "snapshot", "newer": "snapshot", "changed": "snapshot", "gone": "g"})
	os.Symlink("same", filepath.Join(src, "link"))
	old, young := time.Unix(1_700_000_000, 0), time.Unix(1_800_000_000, 0)
	os.Chtimes(filepath.Join(src, "older"), young, young) // the snapshot's is newer than the target's
	os.Chtimes(filepath.Join(src, "newer"), old, old)     // the target's is newer
	sn := snap(t, r, src)
	prepare := func(target string) {
		restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src})
		os.WriteFile(filepath.Join(target, "older"), []byte("target"), 0o644)
		os.Chtimes(filepath.Join(target, "older"), old, old)
		os.WriteFile(filepath.Join(target, "newer"), []byte("target"), 0o644)
		os.Chtimes(filepath.Join(target, "newer"), young, young)
		os.WriteFile(filepath.Join(target, "changed"), []byte("TARGET!!"), 0o644) // same size, new mtime
		os.Remove(filepath.Join(target, "gone"))
	}
	for _, c := range []struct {
		mode restore.Overwrite
		want map[string]string
		acts map[restore.Action]int
	}{
		{restore.OverwriteAlways, map[string]string{"older": "snapshot", "newer": "snapshot", "changed": "snapshot"},
			map[restore.Action]int{restore.ActionUpdate: 5, restore.ActionRestore: 1}},
		{restore.OverwriteIfChanged, map[string]string{"older": "snapshot", "newer": "snapshot", "changed": "snapshot"},
			map[restore.Action]int{restore.ActionUpdate: 3, restore.ActionUnchanged: 2, restore.ActionRestore: 1}},
		{restore.OverwriteIfNewer, map[string]string{"older": "snapshot", "newer": "target", "changed": "TARGET!!"},
			map[restore.Action]int{restore.ActionUpdate: 1, restore.ActionSkip: 4, restore.ActionRestore: 1}},
		{restore.OverwriteNever, map[string]string{"older": "target", "newer": "target", "changed": "TARGET!!"},
			map[restore.Action]int{restore.ActionSkip: 5, restore.ActionRestore: 1}},
	} {
		t.Run(string(c.mode), func(t *testing.T) {
			target := t.TempDir()
			prepare(target)
			acts := map[restore.Action]int{}
			err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Overwrite: c.mode,
				Report: func(a restore.Action, p string) { acts[a]++ }})
			if err != nil {
				t.Fatal(err)
			}
			got := listFiles(t, target)
			for name, want := range c.want {
				if got[name] != want {
					t.Errorf("%s = %q; want %q", name, got[name], want)
				}
			}
			if got["same"] != "same" || got["gone"] != "g" || got["link"] != "-> same" {
				t.Errorf("same/gone/link = %q/%q/%q", got["same"], got["gone"], got["link"])
			}
			if !maps(acts, c.acts) {
				t.Errorf("actions %v; want %v", acts, c.acts)
			}
		})
	}
}

func maps(a, b map[restore.Action]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestDeleteAndDryRun(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"keep/a": "a", "keep/b": "b", "other/c": "c"})
	sn := snap(t, r, src)
	target := t.TempDir()
	fstest.WriteFiles(t, target, map[string]string{"keep/a": "old a", "keep/extra": "x", "keep/sub/deep": "d", "other/c": "c", "other/extra": "y", "top-extra": "z"})

	// Dry run: reports, changes nothing.
	before := listFiles(t, target)
	var lines []string
	err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Delete: true, DryRun: true,
		Include: mustList(t, "keep"), Report: func(a restore.Action, p string) {
			rel, _ := filepath.Rel(target, p)
			lines = append(lines, string(a)+" "+rel)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if after := listFiles(t, target); !equalMaps(before, after) {
		t.Errorf("dry run changed the target: %v", after)
	}
	sort.Strings(lines)
	want := []string{"delete keep/extra", "delete keep/sub", "restore keep/b", "update keep/a"}
	if !slices.Equal(lines, want) {
		t.Errorf("dry run reports %q; want %q", lines, want)
	}

	// The real run: only under the restored directory keep/.
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Delete: true, Include: mustList(t, "keep")}); err != nil {
		t.Fatal(err)
	}
	got := listFiles(t, target)
	wantFiles := map[string]string{"keep/a": "a", "keep/b": "b", "other/c": "c", "other/extra": "y", "top-extra": "z"}
	if !equalMaps(got, wantFiles) {
		t.Errorf("after --delete: %v; want %v", got, wantFiles)
	}
	// Whole snapshot with --delete: the rest goes too.
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Delete: true}); err != nil {
		t.Fatal(err)
	}
	if got := keys(listFiles(t, target)); !slices.Equal(got, []string{"keep/a", "keep/b", "other/c"}) {
		t.Errorf("after a whole --delete: %q", got)
	}
}

func mustList(t *testing.T, p ...string) *filter.List {
	l, err := filter.NewList(p, false)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestVerify restores, then corrupts a file behind the restore's back
// keeping size and mtime (so if-changed takes it as unchanged): --verify
// finds it.
func TestVerify(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"a": "alpha", "b": "beta"})
	sn := snap(t, r, src)
	target := t.TempDir()
	prog := &restore.Progress{}
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Verify: true, Progress: prog}); err != nil {
		t.Fatal(err)
	}
	if prog.Verified.Load() != 2 {
		t.Errorf("verified %d files; want 2", prog.Verified.Load())
	}
	p := filepath.Join(target, "a")
	fi, _ := os.Stat(p)
	os.WriteFile(p, []byte("ALPHA"), 0o644)
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	var warned []string
	err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Verify: true,
		Warn: func(path string, err error) { warned = append(warned, path+": "+err.Error()) }})
	if !errors.Is(err, restore.ErrIncomplete) || len(warned) != 1 || !strings.HasPrefix(warned[0], p+": verify") {
		t.Errorf("err = %v, warnings %q; want one verify failure for %s", err, warned, p)
	}
	// always rewrites it.
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Verify: true, Overwrite: restore.OverwriteAlways}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "alpha" {
		t.Errorf("a = %q after an always restore", b)
	}
}

// TestResumeAndReuse: a partial temporary file from an interrupted run and
// a changed old version of a file are completed from what they hold, with
// only the missing blobs read from the repository; zero runs become holes.
func TestResumeAndReuse(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	data := make([]byte, 24<<20)
	rand.NewChaCha8([32]byte{3}).Read(data)
	copy(data[8<<20:], make([]byte, 4<<20)) // a zero run
	os.WriteFile(filepath.Join(src, "big"), data, 0o644)
	sn := snap(t, r, src)

	target := t.TempDir()
	prog := &restore.Progress{}
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Progress: prog}); err != nil {
		t.Fatal(err)
	}
	full := prog.BytesRead.Load()
	final := filepath.Join(target, "big")

	// Interrupt a restore after about half of the blobs are written: the
	// partial file stays under its temporary name, found again through
	// the journal.
	os.Remove(final)
	ctx, cancel := context.WithCancel(t.Context())
	opts := restore.Options{Target: target, Root: src}
	var written atomic.Int64
	restore.SetAfterWrite(&opts, func(string) {
		if written.Add(1) == 10 {
			cancel()
		}
	})
	if err := restore.Run(ctx, r, sn, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted restore: %v", err)
	}
	tmp := tempFile(t, target)
	// Garbage where the zero run is must become a hole again.
	f, _ := os.OpenFile(tmp, os.O_WRONLY, 0)
	f.WriteAt(bytes.Repeat([]byte{0xff}, 1<<20), 8<<20)
	f.Close()
	prog = &restore.Progress{}
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Progress: prog}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, final, data)
	if got := prog.BytesRead.Load(); got > full*3/4 {
		t.Errorf("resume read %d of %d bytes; want about half", got, full)
	}
	if left := tempFiles(t, target); len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}

	// The old version differs in its last 1 MiB: the rest is reused.
	f, _ = os.OpenFile(final, os.O_WRONLY, 0)
	f.WriteAt(bytes.Repeat([]byte{1}, 1<<20), int64(len(data)-1<<20))
	f.Close()
	prog = &restore.Progress{}
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Progress: prog}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, final, data)
	if got := prog.BytesRead.Load(); got > full/2 {
		t.Errorf("updating one changed chunk read %d of %d bytes", got, full)
	}
	// An identical target reads nothing.
	prog = &restore.Progress{}
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Progress: prog}); err != nil {
		t.Fatal(err)
	}
	if prog.BytesRead.Load() != 0 || prog.Unchanged.Load() != 1 {
		t.Errorf("identical target: read %d bytes, %d unchanged", prog.BytesRead.Load(), prog.Unchanged.Load())
	}
}

// tempFiles lists the restore's temporary entries and journals in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".arca-restore-") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// tempFile returns the one temporary file (not the journal) in dir.
func tempFile(t *testing.T, dir string) string {
	t.Helper()
	var found []string
	for _, p := range tempFiles(t, dir) {
		if !strings.HasSuffix(p, ".journal") {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		t.Fatalf("temporary files in %s: %q; want one", dir, found)
	}
	return found[0]
}

func checkFile(t *testing.T, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, %v; want the snapshot's %d bytes", p, len(got), err, len(want))
	}
}

// TestErrors: a file in the way of a directory, a directory in the way of
// a file, a full disk and a read-only target are reported with their
// path, and the rest is restored.
func TestErrors(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	big := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{4}).Read(big)
	fstest.WriteFiles(t, src, map[string]string{"dir/inside": "i", "file": "f", "ok": "fine", "big": string(big)})
	sn := snap(t, r, src)

	target := t.TempDir()
	fstest.WriteFiles(t, target, map[string]string{"dir": "I am a file", "file/x": "I am in a directory"})
	var warned []string
	err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src,
		Warn: func(p string, err error) { warned = append(warned, p) }})
	if !errors.Is(err, restore.ErrIncomplete) {
		t.Fatalf("err = %v; want ErrIncomplete", err)
	}
	sort.Strings(warned)
	if want := []string{filepath.Join(target, "dir"), filepath.Join(target, "file")}; !slices.Equal(warned, want) {
		t.Errorf("warnings for %q; want %q", warned, want)
	}
	if got := listFiles(t, target); got["ok"] != "fine" || got["big"] != string(big) {
		t.Errorf("the rest was not restored: %v", keys(got))
	}

	if os.Geteuid() != 0 {
		t.Skip("mounting file systems needs root")
	}
	mount := func(opts string) string {
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
			t.Skipf("mount tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", dir).Run() })
		return dir
	}
	// A full disk: big does not fit, the small files do.
	full := mount("size=1m")
	warned = nil
	err = restore.Run(t.Context(), r, sn, restore.Options{Target: full, Root: src,
		Warn: func(p string, err error) { warned = append(warned, p+": "+err.Error()) }})
	if !errors.Is(err, restore.ErrIncomplete) || len(warned) != 1 || !strings.Contains(warned[0], filepath.Join(full, "big")) ||
		!strings.Contains(warned[0], syscall.ENOSPC.Error()) {
		t.Errorf("full disk: err %v, warnings %q", err, warned)
	}
	if got := listFiles(t, full); got["ok"] != "fine" || got["dir/inside"] != "i" || len(got) != 3 {
		t.Errorf("full disk: restored %q", keys(got))
	}
	// A read-only target.
	ro := mount("ro,size=1m")
	err = restore.Run(t.Context(), r, sn, restore.Options{Target: ro, Root: src})
	if err == nil || !strings.Contains(err.Error(), ro) || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("read-only target: %v", err)
	}
}

// TestUnchangedGetsMetadata: an unchanged file whose mode and mtime were
// changed in the target gets them back without being rewritten.
func TestUnchangedGetsMetadata(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"f": "content"})
	os.Chmod(filepath.Join(src, "f"), 0o640)
	sn := snap(t, r, src)
	target := t.TempDir()
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(target, "f")
	want, _ := os.Stat(p)
	os.Chmod(p, 0o777)
	var ino1 syscall.Stat_t
	syscall.Stat(p, &ino1)
	prog := &restore.Progress{}
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Progress: prog}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.Stat(p)
	var ino2 syscall.Stat_t
	syscall.Stat(p, &ino2)
	if got.Mode() != want.Mode() || !got.ModTime().Equal(want.ModTime()) || ino1.Ino != ino2.Ino || prog.Unchanged.Load() != 1 {
		t.Errorf("mode %v mtime %v inode %d->%d unchanged %d; want %v, %v, the same inode, 1",
			got.Mode(), got.ModTime(), ino1.Ino, ino2.Ino, prog.Unchanged.Load(), want.Mode(), want.ModTime())
	}
}

// TestOwnerByName: as root, owners are restored by name where the name
// exists here, by the stored ID otherwise, and always by ID with
// NumericOwner.
func TestOwnerByName(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setting owners needs root")
	}
	ctx := t.Context()
	r := repotest.New(t)
	w := r.NewWriter(ctx, repo.WriterOptions{})
	comp := w.NewCompressor()
	data := []byte("owned")
	id := r.NewIDHasher().Sum(data)
	if _, err := w.SaveBlob(pack.DataBlob, id, append([]byte(nil), data...), comp); err != nil {
		t.Fatal(err)
	}
	file := func(name, user string, uid uint32) tree.Node {
		return tree.Node{Name: name, Type: tree.File, Mode: 0o644, UID: uid, GID: uid, User: user, Group: user,
			Size: uint64(len(data)), ModTime: time.Now().UnixNano(), Links: 1, Content: []crypto.ID{id}}
	}
	tr := &tree.Tree{Nodes: []tree.Node{file("by-name", "root", 4242), file("unknown-name", "no-such-user-here", 4343)}}
	root, _, err := tree.Save(w, tr, comp)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	sn := &snapshot.Snapshot{Time: time.Now(), Hostname: "h", Paths: []string{"/"}, Tree: root}
	if _, err := snapshot.Save(ctx, r, sn); err != nil {
		t.Fatal(err)
	}
	owner := func(p string) uint32 {
		var st syscall.Stat_t
		syscall.Stat(p, &st)
		return st.Uid
	}
	for _, numeric := range []bool{false, true} {
		target := t.TempDir()
		if err := restore.Run(ctx, r, sn, restore.Options{Target: target, NumericOwner: numeric}); err != nil {
			t.Fatal(err)
		}
		want := uint32(0)
		if numeric {
			want = 4242
		}
		if got := owner(filepath.Join(target, "by-name")); got != want {
			t.Errorf("numeric %v: by-name owned by %d; want %d", numeric, got, want)
		}
		if got := owner(filepath.Join(target, "unknown-name")); got != 4343 {
			t.Errorf("numeric %v: unknown-name owned by %d; want 4343", numeric, got)
		}
	}
}

// TestSmallBatches restores the generated tree (hard links, nested
// directories, every node type) in batches of a few files, so directory
// metadata and hard links are finalized while the walk goes on.
func TestSmallBatches(t *testing.T) {
	defer restore.SetBatch(3, 5)()
	r := repotest.New(t)
	src := filepath.Join(t.TempDir(), "src")
	fstest.Generate(t, src, 7)
	sn := snap(t, r, src)
	// Each batch is written while the walk plans the next; with --verify
	// the batches' workers and the walk both queue files to check.
	for _, verify := range []bool{false, true} {
		target := t.TempDir()
		if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Verify: verify}); err != nil {
			t.Fatal(err)
		}
		fstest.Compare(t, src, filepath.Join(target, src))
	}
}

// TestDamagedTreeSkipped: a directory whose tree blob is damaged is
// reported by its path and skipped; everything else is restored.
func TestDamagedTreeSkipped(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"a/one": "1", "a/deeper/two": "2", "b/three": "3", "top": "4"})
	sn := snap(t, r, src)
	n, err := tree.Lookup(t.Context(), r, sn.Tree, filepath.Join(src, "a"))
	if err != nil {
		t.Fatal(err)
	}
	repotest.FlipBlobByte(t, r, pack.TreeBlob, n.Subtree)
	target := t.TempDir()
	var warned []string
	err = restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src,
		Warn: func(p string, err error) { warned = append(warned, p+": "+err.Error()) }})
	if !errors.Is(err, restore.ErrIncomplete) {
		t.Fatalf("err = %v; want ErrIncomplete", err)
	}
	if len(warned) != 1 || !strings.HasPrefix(warned[0], filepath.Join(target, "a")+":") || !strings.Contains(warned[0], "corrupt") {
		t.Errorf("warnings %q; want one naming %s as corrupt", warned, filepath.Join(target, "a"))
	}
	if got := listFiles(t, target); got["b/three"] != "3" || got["top"] != "4" || len(got) != 2 {
		t.Errorf("restored %q; want b/three and top", keys(got))
	}
}

// TestSparseInsideBlobs: runs of zeros inside a blob become holes too: a
// 64 MiB file holding 4 KiB of data at 8 MiB restores with about the
// source's allocation, not the data's whole chunk.
func TestSparseInsideBlobs(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	p := filepath.Join(src, "sparse")
	f, _ := os.Create(p)
	data := make([]byte, 4096)
	rand.NewChaCha8([32]byte{5}).Read(data)
	f.WriteAt(data, 8<<20)
	f.WriteAt([]byte("tail"), 40<<20+123) // a data region not aligned to a block
	f.Truncate(64 << 20)
	f.Close()
	sn := snap(t, r, src)
	allocated := func(p string) int64 {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	target := t.TempDir()
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src}); err != nil {
		t.Fatal(err)
	}
	got, want := allocated(filepath.Join(target, "sparse")), allocated(p)
	if got > want+64<<10 {
		t.Errorf("restored file allocates %d bytes; the source %d (limit +64 KiB)", got, want)
	}
	b, _ := os.ReadFile(filepath.Join(target, "sparse"))
	s, _ := os.ReadFile(p)
	if !bytes.Equal(b, s) {
		t.Fatal("content differs")
	}
	// Restored over garbage (resumed or reused), the zero runs are punched.
	os.WriteFile(filepath.Join(target, "sparse"), bytes.Repeat([]byte{0xff}, 64<<20), 0o644)
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Overwrite: restore.OverwriteAlways}); err != nil {
		t.Fatal(err)
	}
	if got := allocated(filepath.Join(target, "sparse")); got > want+64<<10 {
		t.Errorf("restored over a full file: %d bytes allocated; the source %d", got, want)
	}
	b, _ = os.ReadFile(filepath.Join(target, "sparse"))
	if !bytes.Equal(b, s) {
		t.Fatal("content differs after restoring over a full file")
	}
}
