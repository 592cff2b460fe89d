package backup_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/tree"
)

// hookOnce runs f the first time the backup is about to read a file named
// name (opened and stat'ed).
func hookOnce(t *testing.T, name string, f func(path string)) {
	var once sync.Once
	backup.SetTestHookRead(func(path string) {
		if filepath.Base(path) == name {
			once.Do(func() { f(path) })
		}
	})
	t.Cleanup(func() { backup.SetTestHookRead(nil) })
}

// hookBeforeOpen runs f the first time the backup lists a file named name,
// between the walk's lstat and the reader's open.
func hookBeforeOpen(t *testing.T, name string, f func(path string)) {
	var once sync.Once
	backup.SetTestHookWalk(func(path string) {
		if filepath.Base(path) == name {
			once.Do(func() { f(path) })
		}
	})
	t.Cleanup(func() { backup.SetTestHookWalk(nil) })
}

func TestChangedWhileRead(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"log": strings.Repeat("line\n", 1000), "steady": "x"})
	hookOnce(t, "log", func(path string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		f.WriteString("appended while the backup was running\n")
		f.Close()
	})
	sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(src, "log")}
	if got := sn.Summary.ChangedWhileRead; !slices.Equal(got, want) {
		t.Errorf("changed while read: %q; want %q", got, want)
	}
	if len(sn.Summary.Errors) != 0 {
		t.Errorf("errors: %q", sn.Summary.Errors)
	}
	// The next backup must read the file again: its recorded mtime is the
	// one from before the change.
	sn2, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, Parent: sn})
	if err != nil {
		t.Fatal(err)
	}
	if sn2.Summary.FilesChanged != 1 || len(sn2.Summary.ChangedWhileRead) != 0 {
		t.Errorf("second backup: %d changed, changed while read %q; want 1 and none", sn2.Summary.FilesChanged, sn2.Summary.ChangedWhileRead)
	}
}

// TestReplacedAndVanished replaces files between the walk's lstat and the
// read: by a directory, a symlink, a FIFO, another file, and nothing.
func TestReplacedAndVanished(t *testing.T) {
	for _, c := range []struct {
		name    string
		replace func(t *testing.T, path string)
	}{
		{"directory", func(t *testing.T, p string) { os.Remove(p); os.Mkdir(p, 0o755) }},
		{"symlink", func(t *testing.T, p string) { os.Remove(p); os.Symlink("/etc/passwd", p) }},
		{"fifo", func(t *testing.T, p string) { os.Remove(p); syscall.Mkfifo(p, 0o644) }},
		{"other file", func(t *testing.T, p string) {
			os.WriteFile(p+".new", []byte("new"), 0o644)
			os.Rename(p+".new", p)
		}},
		{"vanished", func(t *testing.T, p string) { os.Remove(p) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := repotest.New(t)
			src := t.TempDir()
			fstest.WriteFiles(t, src, map[string]string{"victim": "old content", "other": "kept"})
			hookBeforeOpen(t, "victim", func(p string) { c.replace(t, p) })
			done := make(chan struct{})
			var err error
			go func() {
				defer close(done)
				var sn any
				sn, err = backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
				_ = sn
			}()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatal("backup hangs")
			}
			if !errors.Is(err, backup.ErrPartial) {
				t.Fatalf("err = %v; want ErrPartial", err)
			}
			if !strings.Contains(err.Error(), "1 entries skipped") {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestSpecialFiles(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"plain": "data"})
	if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(src, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := map[string]tree.NodeType{"plain": tree.File, "fifo": tree.FIFO, "sock": tree.Socket}
	if os.Geteuid() == 0 {
		if err := syscall.Mknod(filepath.Join(src, "null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mknod(filepath.Join(src, "loop"), syscall.S_IFBLK|0o600, 7<<8|200); err != nil {
			t.Fatal(err)
		}
		want["null"], want["loop"] = tree.CharDev, tree.Device
	}
	sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := tree.Lookup(t.Context(), r, sn.Tree, src)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]tree.NodeType{}
	tree.Walk(t.Context(), r, n.Subtree, "", func(p string, n *tree.Node) error {
		got[p] = n.Type
		if n.Type == tree.CharDev && n.Rdev != 1<<8|3 {
			t.Errorf("%s: rdev %#x", p, n.Rdev)
		}
		return nil
	})
	for name, typ := range want {
		if got[name] != typ {
			t.Errorf("%s stored as %v; want %v", name, got[name], typ)
		}
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"a": strings.Repeat("alpha ", 20000), "b/c": "gamma"})
	files := func() int {
		n := 0
		for _, ft := range []backend.FileType{backend.PackFile, backend.IndexFile, backend.SnapshotFile} {
			ids, _ := r.ListFiles(t.Context(), ft)
			n += len(ids)
		}
		return n
	}
	before := files()
	dry, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if after := files(); after != before {
		t.Fatalf("dry run wrote %d files", after-before)
	}
	if !dry.ID.IsNull() {
		t.Errorf("dry run snapshot has ID %s", dry.ID)
	}
	real, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	d, s := dry.Summary, real.Summary
	if d.DataAdded != s.DataAdded || d.DataBlobs != s.DataBlobs || d.FilesNew != s.FilesNew {
		t.Errorf("dry run: %d bytes in %d blobs, %d files; real: %d bytes in %d blobs, %d files",
			d.DataAdded, d.DataBlobs, d.FilesNew, s.DataAdded, s.DataBlobs, s.FilesNew)
	}
	if d.DataAddedPacked == 0 || d.DataAddedPacked > s.DataAddedPacked {
		t.Errorf("dry run estimates %d stored bytes; the real run stored %d", d.DataAddedPacked, s.DataAddedPacked)
	}
	// A dry run after the real one would add nothing.
	again, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.Summary.DataBlobs != 0 {
		t.Errorf("dry run after a backup would add %d data blobs", again.Summary.DataBlobs)
	}
}

func TestSnapshotTime(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"a": "a"})
	at := time.Date(2026, 11, 17, 13, 0, 0, 0, time.UTC)
	sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, Time: at})
	if err != nil {
		t.Fatal(err)
	}
	if !sn.Time.Equal(at) || sn.Summary.BackupStart.Equal(at) {
		t.Errorf("snapshot time %v, backup start %v; want the time given and the real start", sn.Time, sn.Summary.BackupStart)
	}
}

// TestLeavesAtimes checks that a backup does not change the access times
// of what it reads (files, directories, .gitignore files, markers), so an
// unchanged tree stays unchanged for the next backup.
func TestLeavesAtimes(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"a/file": "content", "a/b/.gitignore": "*.tmp\n", "a/b/x.tmp": "t", "c/CACHEDIR.TAG": backup.CacheDirTag.Header})
	var paths []string
	filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		paths = append(paths, p)
		return nil
	})
	// Atimes older than mtimes, set after the listing above: relatime
	// would update them on the next read.
	past := time.Unix(1_600_000_000, 0)
	for _, p := range paths {
		os.Chtimes(p, past, time.Time{})
	}
	atime := func(p string) time.Time {
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		return time.Unix(st.Atim.Unix())
	}
	opts := backup.Options{Paths: []string{src}, Scan: true,
		Excludes: backup.Excludes{GitIgnore: true, IfPresent: []backup.Marker{backup.CacheDirTag}}}
	sn, err := backup.Run(t.Context(), r, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if got := atime(p); !got.Equal(past) {
			t.Errorf("%s: atime changed to %v", p, got)
		}
	}
	opts.Parent = sn
	sn2, err := backup.Run(t.Context(), r, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The directories on the way to src (/tmp...) change as other
	// programs work there; src's own tree must not.
	a, err := tree.Lookup(t.Context(), r, sn.Tree, src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tree.Lookup(t.Context(), r, sn2.Tree, src)
	if err != nil {
		t.Fatal(err)
	}
	if a.Subtree != b.Subtree {
		t.Errorf("the second backup of an unchanged tree stored a new tree for it")
	}
}

func TestWithAtime(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"f": "x"})
	at := time.Unix(1_600_000_000, 123)
	os.Chtimes(filepath.Join(src, "f"), at, time.Now())
	for _, with := range []bool{false, true} {
		sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, WithAtime: with})
		if err != nil {
			t.Fatal(err)
		}
		n, err := tree.Lookup(t.Context(), r, sn.Tree, filepath.Join(src, "f"))
		if err != nil {
			t.Fatal(err)
		}
		want := int64(0)
		if with {
			want = at.UnixNano()
		}
		if n.AccessTime != want {
			t.Errorf("WithAtime %v: stored atime %d; want %d", with, n.AccessTime, want)
		}
	}
}
