package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcabackup/arca/repo/fstest"
)

// Regression tests for what a new user hit in daily use (issue 9), at the
// command line where they met it.

// TestDumpWholeSnapshot: "dump SNAP /" and "dump --at T /" write the whole
// snapshot as a tar (they used to ask for a PATH).
func TestDumpWholeSnapshot(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	randomFiles(t, src, 2, 100, 9)
	e.must("-r", repoDir, "backup", src)
	for _, args := range [][]string{{"latest", "/"}, {"--at", "2100-01-01", "/"}, {"latest:/"}} {
		r := e.run(append([]string{"-r", repoDir, "dump"}, args...)...)
		names := tarNames(t, r.stdout)
		if r.code != 0 || !strings.Contains(names, strings.TrimPrefix(filepath.Join(src, "f01"), "/")) {
			t.Errorf("dump %q: exit %d, entries %q\n%s", args, r.code, names, r.stderr)
		}
	}
	if r := e.run("-r", repoDir, "dump", "latest"); r.code == 0 {
		t.Error("dump without a path succeeded")
	}
}

// TestLatestHoldingPath: with two streams saved by one host, "latest" and
// --at with a PATH pick the newest snapshot that holds PATH.
func TestLatestHoldingPath(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	e.exec(nil, strings.NewReader("-- sql v1"), "-r", repoDir, "backup", "--stdin", "--stdin-filename", "shop.sql", "--time", "2026-11-01 10:00")
	e.exec(nil, strings.NewReader("custom v1"), "-r", repoDir, "backup", "--stdin", "--stdin-filename", "shop.dump", "--time", "2026-11-01 11:00")
	e.exec(nil, strings.NewReader("-- sql v2"), "-r", repoDir, "backup", "--stdin", "--stdin-filename", "shop.sql", "--time", "2026-11-02 10:00")
	e.exec(nil, strings.NewReader("custom v2"), "-r", repoDir, "backup", "--stdin", "--stdin-filename", "shop.dump", "--time", "2026-11-02 11:00")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"latest", "/shop.sql"}, "-- sql v2"},
		{[]string{"latest:/shop.sql"}, "-- sql v2"},
		{[]string{"latest", "/shop.dump"}, "custom v2"},
		{[]string{"--at", "2026-11-02 10:30", "/shop.dump"}, "custom v1"},
		{[]string{"--at", "2026-11-02 10:30", ":/shop.sql"}, "-- sql v2"},
	} {
		r := e.run(append([]string{"-r", repoDir, "dump"}, c.args...)...)
		if r.code != 0 || r.stdout != c.want || !strings.Contains(r.stderr, "using snapshot") {
			t.Errorf("dump %q: %q (exit %d, %s); want %q", c.args, r.stdout, r.code, r.stderr, c.want)
		}
	}
	if r := e.run("-r", repoDir, "dump", "latest", "/nothing.sql"); r.code == 0 || !strings.Contains(r.stderr, "no matching snapshot") {
		t.Errorf("a path no snapshot holds: exit %d, %s", r.code, r.stderr)
	}
}

// TestConflictingSelections: "latest" (or an ID) with --at is refused.
func TestConflictingSelections(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	randomFiles(t, src, 1, 100, 10)
	e.must("-r", repoDir, "backup", src)
	for _, args := range [][]string{{"ls", "latest", "--at", "3d"}, {"ls", "latest:/", "--at", "1s"}, {"restore", "latest", "--at", "1s", "--target", e.dir + "/t"}} {
		if r := e.run(append([]string{"-r", repoDir}, args...)...); r.code == 0 || !strings.Contains(r.stderr, "both choose the snapshot") {
			t.Errorf("%q: exit %d, %s; want a refusal", args, r.code, r.stderr)
		}
	}
}

// TestIncludeCreatesOnlyWhatItNeeds: restore --include creates only the
// directories on the way to what it restores (it used to create all).
func TestIncludeCreatesOnlyWhatItNeeds(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	files := map[string]string{"app/x/y/app.log": "log1", "db/data.log": "log2"}
	for i := range 40 {
		files[filepath.Join("dir"+string(rune('a'+i%26)), "n"+string(rune('a'+i/26)), "file.txt")] = "text"
	}
	fstest.WriteFiles(t, src, files)
	e.must("-r", repoDir, "backup", src)
	target := filepath.Join(e.dir, "target")
	r := e.must("-r", repoDir, "restore", "latest:"+src, "--target", target, "--include", "*.log")
	var dirs []string
	filepath.WalkDir(target, func(p string, d os.DirEntry, err error) error {
		if d.IsDir() && p != target {
			rel, _ := filepath.Rel(target, p)
			dirs = append(dirs, rel)
		}
		return nil
	})
	want := []string{"app", "app/x", "app/x/y", "db"}
	if strings.Join(dirs, " ") != strings.Join(want, " ") {
		t.Errorf("directories %q; want only %q\n%s", dirs, want, r.stdout)
	}
	if got := restoredFiles(t, target); len(got) != 2 || string(got["db/data.log"]) != "log2" {
		t.Errorf("restored %d files; want the 2 logs", len(got))
	}
}

// TestBackupMissingPath: a path named on the command line that does not
// exist is fatal: a clear message, no snapshot, exit 1.
func TestBackupMissingPath(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	randomFiles(t, src, 1, 100, 11)
	missing := filepath.Join(e.dir, "nonexistent")
	r := e.run("-r", repoDir, "backup", src, missing)
	if r.code != 1 || !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("backup of a missing path: exit %d, %q; want 1 and a message naming it", r.code, r.stderr)
	}
	if list := e.snapshots(repoDir); len(list) != 0 {
		t.Errorf("%d snapshots saved; want none", len(list))
	}
}

// TestTagCommas: --tag a,b is two tags, as in restic; as a filter "a,b"
// means both, and repeating --tag means any of the lists.
func TestTagCommas(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	randomFiles(t, src, 1, 100, 12)
	e.must("-r", repoDir, "backup", "--tag", "a,b", src)
	e.must("-r", repoDir, "backup", "--tag", "c", "--tag", "d", src)
	list := e.snapshots(repoDir)
	if got := fmt.Sprint(list[0]["tags"], list[1]["tags"]); got != "[a b] [c d]" {
		t.Errorf("tags %s; want [a b] [c d]", got)
	}
	for _, c := range []struct {
		filter []string
		want   int
	}{
		{[]string{"--tag", "a,b"}, 1},
		{[]string{"--tag", "a,c"}, 0},
		{[]string{"--tag", "a", "--tag", "c"}, 2},
		{[]string{"--tag", "b,a", "--tag", "x"}, 1},
	} {
		var got []map[string]any
		json.Unmarshal([]byte(e.must(append([]string{"-r", repoDir, "snapshots", "--json"}, c.filter...)...).stdout), &got)
		if len(got) != c.want {
			t.Errorf("snapshots %q: %d; want %d", c.filter, len(got), c.want)
		}
	}
	e.must("-r", repoDir, "tag", "--add", "x,y", "--remove", "a,c")
	list = e.snapshots(repoDir)
	if got := fmt.Sprint(list[0]["tags"], list[1]["tags"]); got != "[b x y] [d x y]" {
		t.Errorf("after tag --add x,y --remove a,c: %s", got)
	}
}

// TestPasswordPrecedence: an explicit --password-file or
// --password-command wins over ARCA_PASSWORD; the two flags together are
// refused.
func TestPasswordPrecedence(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo() // password "pw"
	good := filepath.Join(e.dir, "good")
	os.WriteFile(good, []byte("pw\n"), 0o600)
	wrongEnv := []string{"ARCA_PASSWORD=wrong"}
	if r := e.runEnv(wrongEnv, "-r", repoDir, "--password-file", good, "snapshots"); r.code != 0 {
		t.Errorf("--password-file with a wrong ARCA_PASSWORD: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.runEnv(wrongEnv, "-r", repoDir, "--password-command", "echo pw", "snapshots"); r.code != 0 {
		t.Errorf("--password-command with a wrong ARCA_PASSWORD: exit %d\n%s", r.code, r.stderr)
	}
	r := e.run("-r", repoDir, "--password-file", good, "--password-command", "echo pw", "snapshots")
	if r.code == 0 || !strings.Contains(r.stderr, "mutually exclusive") {
		t.Errorf("both flags: exit %d, %q; want a refusal", r.code, r.stderr)
	}
	// An explicit flag also wins over the other source's variable.
	if r := e.runEnv([]string{"ARCA_PASSWORD_COMMAND=echo wrong"}, "-r", repoDir, "--password-file", good, "snapshots"); r.code != 0 {
		t.Errorf("--password-file with ARCA_PASSWORD_COMMAND set: exit %d\n%s", r.code, r.stderr)
	}
}

// TestDumpToClosedPipe: a reader that stops early (| head, pg_restore -t)
// ends the dump quietly with exit 0, not 141.
func TestDumpToClosedPipe(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	randomFiles(t, src, 1, 8<<20, 13)
	e.must("-r", repoDir, "backup", src)
	for _, args := range [][]string{{"dump", "latest", filepath.Join(src, "f00")}, {"dump", "latest", "/"}, {"ls", "latest"}} {
		cmd := exec.Command(arcaBin, append([]string{"-r", repoDir}, args...)...)
		cmd.Env = e.vars
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		io.ReadFull(out, make([]byte, 10))
		out.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("%q with a reader that stops early: %v; want exit 0\n%s", args, err, stderr.String())
		}
	}
}
