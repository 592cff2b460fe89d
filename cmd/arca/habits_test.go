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
	repoDir, src := e.repoWithFiles(2, 100, 9)
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
	repoDir, src := e.repoWithFiles(1, 100, 10)
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
	repoDir, src := e.repoWithFiles(1, 100, 11)
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
	repoDir, src := e.repoWithFiles(1, 100, 12)
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
	repoDir, src := e.repoWithFiles(1, 8<<20, 13)
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

// TestVerboseBackup: -v lists new and modified files, -vv every file and
// directory with its status, --json -vv restic's verbose_status lines.
func TestVerboseBackup(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	fstest.WriteFiles(t, src, map[string]string{"a": "1", "d/b": "2", "d/c": "3"})
	r := e.must("-r", repoDir, "backup", "-v", src)
	for _, f := range []string{"a", "d/b", "d/c"} {
		if !strings.Contains(r.stdout, "new       "+filepath.Join(src, f)+", saved in") {
			t.Errorf("-v does not list new file %s:\n%s", f, r.stdout)
		}
	}
	os.WriteFile(filepath.Join(src, "a"), []byte("changed"), 0o644)
	r = e.must("-r", repoDir, "backup", "-v", src)
	if !strings.Contains(r.stdout, "modified  "+filepath.Join(src, "a")+", saved in") || strings.Contains(r.stdout, "unchanged") {
		t.Errorf("-v: want the modified file and nothing unchanged:\n%s", r.stdout)
	}
	r = e.must("-r", repoDir, "backup", "-vv", src)
	for _, want := range []string{"unchanged " + filepath.Join(src, "d/b"), "unchanged " + filepath.Join(src, "d") + "/"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("-vv does not list %q:\n%s", want, r.stdout)
		}
	}
	os.WriteFile(filepath.Join(src, "a"), []byte("again"), 0o644)
	r = e.must("-r", repoDir, "--json", "backup", "-vv", src)
	seen := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if m["message_type"] == "verbose_status" {
			seen[m["item"].(string)] = m["action"].(string)
			for _, k := range []string{"duration", "data_size", "data_size_in_repo", "metadata_size", "metadata_size_in_repo", "total_files"} {
				if _, ok := m[k]; !ok {
					t.Errorf("verbose_status without %s: %s", k, line)
				}
			}
		}
	}
	if seen[filepath.Join(src, "a")] != "modified" || seen[filepath.Join(src, "d/c")] != "unchanged" || seen[src+"/"] != "modified" {
		t.Errorf("verbose_status actions %v", seen)
	}
}

// TestFileCounts: symlinks and FIFOs are not files, in the summary's
// "processed" line and its Files line alike (as restic).
func TestFileCounts(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	fstest.WriteFiles(t, src, map[string]string{"a": "1", "b": "2"})
	os.Symlink("a", filepath.Join(src, "link"))
	exec.Command("mkfifo", filepath.Join(src, "fifo")).Run()
	r := e.must("-r", repoDir, "backup", src)
	if !strings.Contains(r.stdout, "Files: 2 new") || !strings.Contains(r.stdout, "processed 2 files") {
		t.Errorf("want 2 files in both lines:\n%s", r.stdout)
	}
}

// TestInvalidValues: out-of-range values are refused before anything is
// done, and a failed init leaves nothing behind.
func TestInvalidValues(t *testing.T) {
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(1, 100, 14)
	for _, args := range [][]string{
		{"backup", "--read-concurrency", "0", src},
		{"backup", "--read-concurrency", "-3", src},
		{"snapshots", "--latest", "-1"},
		{"snapshots", "--latest", "0"},
		{"key", "add", "--kdf-memory", "1"},
	} {
		if r := e.runEnv([]string{"ARCA_NEW_PASSWORD=x"}, append([]string{"-r", repoDir}, args...)...); r.code != 1 || !strings.Contains(r.stderr, args[len(args)-2]) && !strings.Contains(r.stderr, "out of range") {
			t.Errorf("%q: exit %d, %q; want a refusal naming the value", args, r.code, r.stderr)
		}
	}
	if list := e.snapshots(repoDir); len(list) != 0 {
		t.Errorf("a refused backup saved %d snapshots", len(list))
	}
	// A failed init leaves no skeleton.
	fresh := filepath.Join(e.dir, "fresh")
	if r := e.run("-r", fresh, "init", "--kdf-time", "0"); r.code != 1 {
		t.Errorf("init with --kdf-time 0: exit %d", r.code)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("a failed init left %s behind (%v)", fresh, err)
	}
	// One that fails after creating directories (leftovers of another
	// init) removes what it made and nothing else.
	left := filepath.Join(e.dir, "left")
	os.MkdirAll(filepath.Join(left, "keys"), 0o700)
	os.WriteFile(filepath.Join(left, "keys", strings.Repeat("ab", 32)), []byte("{}"), 0o600)
	if r := e.run(append([]string{"-r", left, "init"}, cheapKDF...)...); r.code != 1 || !strings.Contains(r.stderr, "no config") {
		t.Errorf("init over leftovers: exit %d, %q", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(left); len(entries) != 1 {
		t.Errorf("after a refused init %s holds %d entries; want only keys/", left, len(entries))
	}
	// key add with no new password names the right sources.
	if r := e.runEnv([]string{"ARCA_NEW_PASSWORD="}, "-r", repoDir, "key", "add"); r.code != 1 || !strings.Contains(r.stderr, "ARCA_NEW_PASSWORD") || !strings.Contains(r.stderr, "--new-password-file") {
		t.Errorf("key add without a new password: %q", r.stderr)
	}
}

// TestMessagesForUsers: what a user reads carries no internal package
// prefixes.
func TestMessagesForUsers(t *testing.T) {
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(2, 300000, 15)
	e.must("-r", repoDir, "backup", "--compression", "off", src)
	flipAt(t, repoFiles(t, repoDir, "data")[0], 1000)
	r := e.run("-r", repoDir, "restore", "latest", "--target", filepath.Join(e.dir, "t"))
	wrong := e.runEnv([]string{"ARCA_PASSWORD=nope"}, "-r", repoDir, "snapshots")
	for _, out := range []string{r.stderr, wrong.stderr} {
		for _, leak := range []string{"crypto:", "repo:", "pack: corrupt", "restore:", "context canceled"} {
			if strings.Contains(out, leak) {
				t.Errorf("message leaks %q:\n%s", leak, out)
			}
		}
	}
	if !strings.Contains(r.stderr, "corrupt") || !strings.Contains(wrong.stderr, "wrong password") {
		t.Errorf("messages lost their meaning:\n%s\n%s", r.stderr, wrong.stderr)
	}
}

// TestCatTree: cat tree takes a unique prefix and prints the documented
// lower-case shape.
func TestCatTree(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	fstest.WriteFiles(t, src, map[string]string{"a": "1"})
	e.must("-r", repoDir, "backup", src)
	root := e.snapshots(repoDir)[0]["tree"].(string)
	r := e.must("-r", repoDir, "cat", "tree", root[:8])
	var got struct {
		Nodes []map[string]any `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got.Nodes) != 1 {
		t.Fatalf("cat tree: %v\n%s", err, r.stdout)
	}
	for _, k := range []string{"name", "type", "mode", "permissions", "mtime", "atime", "ctime", "uid", "gid", "inode", "size", "subtree"} {
		if _, ok := got.Nodes[0][k]; !ok {
			t.Errorf("node lacks %q: %v", k, got.Nodes[0])
		}
	}
	if strings.Contains(r.stdout, "ModTime") || strings.Contains(r.stdout, "Nodes") {
		t.Errorf("Go field names in the output:\n%s", r.stdout)
	}
	if r := e.run("-r", repoDir, "cat", "tree", "zz"); r.code == 0 {
		t.Error("cat tree with a non-hex prefix succeeded")
	}
}

// TestCompletion: snapshot IDs, paths inside a snapshot and flag values
// complete through cobra's __complete (what the bash script calls); with
// no password available without a prompt, nothing is offered.
func TestCompletion(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	fstest.WriteFiles(t, src, map[string]string{"docs/a.txt": "a", "docs/b.txt": "b"})
	e.must("-r", repoDir, "backup", "--tag", "nightly", src)
	id := e.snapshots(repoDir)[0]["short_id"].(string)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"restore", ""}, id},
		{[]string{"restore", ""}, "latest"},
		{[]string{"ls", "latest:" + src + "/do"}, "latest:" + src + "/docs/"},
		{[]string{"dump", id + ":" + src + "/docs/"}, id + ":" + src + "/docs/b.txt"},
		{[]string{"snapshots", "--tag", ""}, "nightly"},
		{[]string{"backup", "--kind", ""}, "differential"},
		{[]string{"restore", "--overwrite", ""}, "if-newer"},
		{[]string{"stats", "--mode", ""}, "raw-data"},
	} {
		r := e.run(append([]string{"-r", repoDir, "__complete"}, c.args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, c.want) {
			t.Errorf("complete %q: %q (exit %d); want %q among the candidates", c.args, r.stdout, r.code, c.want)
		}
	}
	r := e.runEnv([]string{"ARCA_PASSWORD="}, "-r", repoDir, "__complete", "restore", "")
	if strings.Contains(r.stdout, id) || strings.Contains(r.stderr, "password") {
		t.Errorf("without a password: %q %q; want no candidates and no prompt", r.stdout, r.stderr)
	}
}

// TestGenerate: generate --man writes a page per command, --completion a
// script for the shell.
func TestGenerate(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.dir, "man")
	bash := filepath.Join(e.dir, "arca.bash")
	e.must("generate", "--man", dir, "--completion", bash, "--shell", "bash")
	for _, cmd := range []string{"arca", "arca-backup", "arca-restore", "arca-key-add", "arca-generate", "arca-mount"} {
		if b, err := os.ReadFile(filepath.Join(dir, cmd+".1")); err != nil || !strings.Contains(string(b), ".TH") {
			t.Errorf("man page %s.1: %v", cmd, err)
		}
	}
	if b, _ := os.ReadFile(bash); !strings.Contains(string(b), "__complete") {
		t.Error("the bash completion script does not call __complete")
	}
}

// TestConcurrentBackups: backups started at the same time into one
// repository (as hosts sharing it would, each with its own cache) all
// succeed, and every snapshot restores in full.
func TestConcurrentBackups(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	const n = 4
	var srcs []string
	for i := range n {
		src := filepath.Join(e.dir, fmt.Sprintf("src%d", i))
		randomFiles(t, src, 3, 3<<20, byte(20+i))
		randomFiles(t, filepath.Join(src, "shared"), 2, 1<<20, 99) // the same content in every source
		srcs = append(srcs, src)
	}
	cmds := make([]*exec.Cmd, n)
	outs := make([]strings.Builder, n)
	for i, src := range srcs {
		cmds[i] = exec.Command(arcaBin, "-r", repoDir, "--cache-dir", filepath.Join(e.dir, fmt.Sprintf("cache%d", i)),
			"backup", "--host", fmt.Sprintf("host%d", i), src)
		cmds[i].Env = e.vars
		cmds[i].Stderr = &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("backup %d: %v\n%s", i, err, outs[i].String())
		}
	}
	for i, src := range srcs {
		if r := e.restoreAndCompare(repoDir, "latest", src, "--host", fmt.Sprintf("host%d", i)); r.code != 0 {
			t.Errorf("restore of host%d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
}
