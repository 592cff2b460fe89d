package main_test

import (
	"archive/tar"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arcabackup/arca/repo/fstest"
)

// TestRestoreAt picks snapshots by time among host and tag filters.
func TestRestoreAt(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	os.MkdirAll(src, 0o755)
	backupAt := func(name, at string, extra ...string) {
		os.WriteFile(filepath.Join(src, "which"), []byte(name), 0o644)
		e.must(append([]string{"-r", repoDir, "backup", "--time", at, src}, extra...)...)
	}
	backupAt("s1", "2026-11-01 10:00", "--host", "a")
	backupAt("s2", "2026-11-02 10:00", "--host", "b", "--tag", "x")
	backupAt("s3", "2026-11-03 10:00", "--host", "a", "--tag", "x")
	backupAt("s4", "2026-11-05 10:00", "--host", "a")
	for i, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--at", "2026-11-04"}, "s3"},
		{[]string{"--at", "2026-11-03 10:00"}, "s3"},
		{[]string{"--at", "2026-11-03 09:59:59"}, "s2"},
		{[]string{"--at", "2026-11-04", "--host", "b"}, "s2"},
		{[]string{"--at", "2026-11-02 12:00", "--tag", "x", "--host", "a"}, ""},
		{[]string{"--at", "2026-11-06", "--tag", "x"}, "s3"},
		{[]string{"latest", "--host", "a", "--tag", "x"}, "s3"},
		{[]string{"--at", "1d"}, "s4"},
		{[]string{"--at", "2026-10-01"}, ""},
	} {
		target := filepath.Join(e.dir, fmt.Sprintf("t%d", i))
		res := e.run(append([]string{"-r", repoDir, "restore", "--target", target}, c.args...)...)
		got, _ := os.ReadFile(filepath.Join(target, src, "which"))
		if c.want == "" {
			if res.code == 0 || !strings.Contains(res.stderr, "no matching snapshot") {
				t.Errorf("%q: exit %d, %q; want no matching snapshot", c.args, res.code, res.stderr)
			}
			continue
		}
		if res.code != 0 || string(got) != c.want || !strings.Contains(res.stderr, "using snapshot") {
			t.Errorf("%q: restored %q (exit %d, %s); want %s", c.args, got, res.code, res.stderr, c.want)
		}
	}
	// A snapshot ID with --at is refused; SNAP:PATH restores one file.
	if res := e.run("-r", repoDir, "restore", "--target", e.dir+"/x", "--at", "1d", e.snapshots(repoDir)[0]["short_id"].(string)); res.code == 0 {
		t.Error("--at with a snapshot ID was accepted")
	}
	e.must("-r", repoDir, "restore", "latest:"+src+"/which", "--target", e.dir+"/one")
	if b, _ := os.ReadFile(e.dir + "/one/which"); string(b) != "s4" {
		t.Errorf("SNAP:PATH of a file restored %q", b)
	}
}

// TestRestoreKillResume kills (SIGKILL) or interrupts (SIGINT, exit 130)
// a restore mid-way; the second run finishes
// the work, reading less than a full restore, and leaves no temporary
// files.
func TestRestoreKillResume(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	os.MkdirAll(src, 0o755)
	const files, size = 16, 8 << 20
	for i := range files {
		data := make([]byte, size)
		rand.NewChaCha8([32]byte{byte(i), 1}).Read(data)
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d", i)), data, 0o644)
	}
	e.must("-r", repoDir, "backup", "--compression", "off", src)
	full := lastSummaryMap(t, e.must("-r", repoDir, "--json", "restore", "latest", "--target", e.dir+"/full").stdout)

	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			target := filepath.Join(e.dir, "target-"+strings.ReplaceAll(sig.String(), " ", "-"))
			cmd := exec.Command(arcaBin, "-r", repoDir, "restore", "latest", "--target", target)
			cmd.Env = e.vars
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for {
				entries, _ := os.ReadDir(filepath.Join(target, src))
				done := 0
				for _, de := range entries {
					if !strings.HasPrefix(de.Name(), ".arca-restore-") {
						done++
					}
				}
				if done >= files/4 {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatal("the restore wrote nothing")
				}
				time.Sleep(time.Millisecond)
			}
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			if err == nil {
				t.Skip("the restore finished before it could be interrupted")
			}
			if ee, ok := err.(*exec.ExitError); sig == syscall.SIGINT && (!ok || ee.ExitCode() != 130) {
				t.Errorf("after Ctrl-C: %v; want exit 130", err)
			}
			second := lastSummaryMap(t, e.must("-r", repoDir, "--json", "restore", "latest", "--target", target).stdout)
			fstest.Compare(t, src, filepath.Join(target, src))
			t.Logf("a full restore read %v bytes; after the interruption the second run read %v, kept %v files unchanged",
				full["bytes_read"], second["bytes_read"], second["files_unchanged"])
			if second["bytes_read"].(float64) >= full["bytes_read"].(float64) {
				t.Errorf("the second run read %v bytes, as much as a full restore (%v)", second["bytes_read"], full["bytes_read"])
			}
			filepath.Walk(target, func(p string, fi os.FileInfo, err error) error {
				if strings.HasPrefix(fi.Name(), ".arca-restore-") {
					t.Errorf("temporary file left: %s", p)
				}
				return nil
			})
		})
	}
}

// TestRestoreDryRunAndDump: --dry-run prints actions and writes nothing;
// dump writes a file and a tar of a directory.
func TestRestoreDryRunAndDump(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	os.MkdirAll(filepath.Join(src, "d"), 0o755)
	os.WriteFile(filepath.Join(src, "d", "f"), []byte("content"), 0o644)
	e.must("-r", repoDir, "backup", src)
	target := filepath.Join(e.dir, "target")
	out := e.must("-r", repoDir, "restore", "latest", "--target", target, "--dry-run").stdout
	if !strings.Contains(out, "restore   "+filepath.Join(target, src, "d", "f")) || !strings.Contains(out, "would restore 1 files (7 B)") {
		t.Errorf("dry run:\n%s", out)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("the dry run created the target: %v", err)
	}
	if got := e.must("-r", repoDir, "dump", "latest", src+"/d/f").stdout; got != "content" {
		t.Errorf("dump of a file: %q", got)
	}
	tarOut := e.must("-r", repoDir, "dump", "latest:"+src+"/d").stdout
	tr := tar.NewReader(strings.NewReader(tarOut))
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"d/", "d/f"}) {
		t.Errorf("the dump's tar holds %q", names)
	}
}

// TestMountCLI mounts with the binary, reads a file through the kernel and
// unmounts on Ctrl-C.
func TestMountCLI(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs /dev/fuse and root")
	}
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "f"), []byte("through fuse"), 0o644)
	e.must("-r", repoDir, "backup", "--host", "h1", src)
	mnt := filepath.Join(e.dir, "mnt")
	os.Mkdir(mnt, 0o755)
	cmd := exec.Command(arcaBin, "-r", repoDir, "mount", mnt)
	cmd.Env = e.vars
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer exec.Command("umount", mnt).Run()
	p := filepath.Join(mnt, "hosts", "h1")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if entries, _ := os.ReadDir(p); len(entries) > 0 {
			p = filepath.Join(p, entries[0].Name(), src, "f")
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("not mounted:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "through fuse" {
		t.Errorf("read %s: %q, %v", p, b, err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("arca mount after Ctrl-C: %v\n%s", err, out.String())
	}
	if entries, _ := os.ReadDir(mnt); len(entries) != 0 {
		t.Errorf("still mounted after Ctrl-C: %d entries", len(entries))
	}
}
