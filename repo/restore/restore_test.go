package restore_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/restore"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
)

func TestBackupRestoreRoundTrip(t *testing.T) {
	r := repotest.New(t)
	src := filepath.Join(t.TempDir(), "src")
	fstest.Generate(t, src, 1)
	sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: target}); err != nil {
		t.Fatal(err)
	}
	fstest.Compare(t, src, filepath.Join(target, src))

	// The sparse file is restored with holes.
	fi, err := os.Stat(filepath.Join(target, src, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if blocks := fi.Sys().(*syscall.Stat_t).Blocks * 512; blocks >= fi.Size()/2 {
		t.Errorf("sparse file uses %d bytes of disk for %d bytes; want holes", blocks, fi.Size())
	}
	// No temporary files are left behind.
	filepath.WalkDir(target, func(p string, d os.DirEntry, err error) error {
		if len(d.Name()) > 13 && d.Name()[:13] == ".arca-restore" {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func TestIncrementalReadsNothing(t *testing.T) {
	r := repotest.New(t)
	src := filepath.Join(t.TempDir(), "src")
	fstest.Generate(t, src, 2)
	first, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, Hostname: "h", Parent: first})
	if err != nil {
		t.Fatal(err)
	}
	s := second.Summary
	if s.BytesRead != 0 || s.FilesNew != 0 || s.FilesChanged != 0 {
		t.Errorf("unchanged re-backup: read %d bytes, %d new, %d changed files; want 0, 0, 0", s.BytesRead, s.FilesNew, s.FilesChanged)
	}
	// The directories above src (the temporary directory) may change
	// while tests run; src's own tree must not.
	n1, err1 := tree.Lookup(t.Context(), r, first.Tree, src)
	n2, err2 := tree.Lookup(t.Context(), r, second.Tree, src)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if n1.Subtree != n2.Subtree {
		t.Errorf("unchanged directory has a new tree id")
	}
	// Change one file: only it is read.
	if err := os.WriteFile(filepath.Join(src, "small.txt"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, Hostname: "h", Parent: second})
	if err != nil {
		t.Fatal(err)
	}
	if s := third.Summary; s.FilesChanged != 1 || s.BytesRead != int64(len("changed")) {
		t.Errorf("one changed file: %d changed, %d bytes read; want 1, 7", s.FilesChanged, s.BytesRead)
	}
	list, err := snapshot.List(t.Context(), r)
	if err != nil || len(list) != 3 {
		t.Fatalf("List = %d snapshots, %v; want 3", len(list), err)
	}
}

// TestUnreadableFile: a file the backup cannot read is skipped and listed,
// and the snapshot is saved (ErrPartial). Root reads every file, so as
// root the test runs itself again as nobody (setpriv).
func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		asNobody(t, "TestUnreadableFile")
		return
	}
	r := repotest.New(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "ok"), []byte("ok"), 0o644)
	os.WriteFile(filepath.Join(src, "secret"), []byte("no"), 0o000)
	sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if !errors.Is(err, backup.ErrPartial) || sn == nil || len(sn.Summary.Errors) != 1 {
		t.Fatalf("err = %v; want ErrPartial with one error listed", err)
	}
}

// TestInsertShiftsLittle inserts 1 KiB at the start of a large file: with
// content-defined chunking only the chunks around the insertion are new.
func TestInsertShiftsLittle(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	data := make([]byte, 48<<20)
	rand.NewChaCha8([32]byte{9}).Read(data)
	path := filepath.Join(src, "big")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	first, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	insert := make([]byte, 1024)
	rand.NewChaCha8([32]byte{10}).Read(insert)
	if err := os.WriteFile(path, append(insert, data...), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, Parent: first})
	if err != nil {
		t.Fatal(err)
	}
	if added := second.Summary.DataAdded; added > 8<<20 {
		t.Errorf("1 KiB insert into 48 MiB added %d bytes; want a few chunks (under 8 MiB)", added)
	}
}

// TestKinds runs full, incremental and differential backups in turn and
// checks each one's parent and the figures relative to it.
func TestKinds(t *testing.T) {
	ctx := t.Context()
	r := repotest.New(t)
	src := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	paths, _ := backup.CleanPaths([]string{src})
	run := func(kind string, wantParent *snapshot.Snapshot) *snapshot.Snapshot {
		t.Helper()
		list, err := snapshot.List(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		parent, err := backup.ChooseParent(list, kind, "h", paths)
		if err != nil {
			t.Fatal(err)
		}
		if parent != nil && wantParent == nil || parent == nil && wantParent != nil || parent != nil && parent.ID != wantParent.ID {
			t.Fatalf("%s: parent %v; want %v", kind, parent, wantParent)
		}
		sn, err := backup.Run(ctx, r, backup.Options{Paths: []string{src}, Hostname: "h", Kind: kind, Parent: parent})
		if err != nil {
			t.Fatal(err)
		}
		return sn
	}
	write("a", "1")
	write("b", "1")
	full := run("full", nil)
	if full.Kind != "full" || full.Summary.FilesNew != 2 {
		t.Fatalf("full: kind %s, %d new", full.Kind, full.Summary.FilesNew)
	}
	write("a", "22")
	inc := run("incremental", full)
	if s := inc.Summary; inc.Kind != "incremental" || s.FilesChanged != 1 || s.FilesUnmodified != 1 {
		t.Fatalf("incremental: %s changed %d unmodified %d", inc.Kind, s.FilesChanged, s.FilesUnmodified)
	}
	write("c", "new")
	inc2 := run("incremental", inc)
	if s := inc2.Summary; s.FilesNew != 1 || s.FilesChanged != 0 || s.FilesUnmodified != 2 {
		t.Fatalf("second incremental: new %d changed %d unmodified %d", s.FilesNew, s.FilesChanged, s.FilesUnmodified)
	}
	// A differential compares with the full backup: a changed and c new
	// since then, whatever the incrementals in between.
	diff := run("differential", full)
	if s := diff.Summary; diff.Kind != "differential" || s.FilesNew != 1 || s.FilesChanged != 1 || s.FilesUnmodified != 1 {
		t.Fatalf("differential: %s new %d changed %d unmodified %d", diff.Kind, s.FilesNew, s.FilesChanged, s.FilesUnmodified)
	}
	if *diff.Parent != full.ID {
		t.Fatalf("differential's parent is %s; want the full %s", diff.Parent.Short(), full.ID.Short())
	}
	// Each snapshot restores alone.
	target := t.TempDir()
	if err := restore.Run(ctx, r, diff, restore.Options{Target: target}); err != nil {
		t.Fatal(err)
	}
	fstest.Compare(t, src, filepath.Join(target, src))
}

// asNobody runs test name of this test binary again as the user nobody,
// with a temporary directory nobody can write, and fails if it fails.
func asNobody(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("no setpriv to run as nobody")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	dir, err := os.MkdirTemp("", "arca-nobody-") // t.TempDir's parent is root's alone
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "test.bin")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o777)
	os.Chmod(tmp, 0o1777)
	cmd := exec.Command("setpriv", "--reuid="+nobody.Uid, "--regid="+nobody.Gid, "--clear-groups", "--",
		bin, "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "HOME="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("%s as nobody: %v\n%s", name, err, out)
	}
}
