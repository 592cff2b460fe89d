package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arcabackup/arca/repo/fstest"
)

var arcaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "arca-bin-")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755)
	arcaBin = filepath.Join(dir, "arca")
	if out, err := exec.Command("go", "build", "-o", arcaBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build arca: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a test's environment: its own home, data and cache directories
// and cheap key derivation for new keys.
type env struct {
	t    *testing.T
	dir  string
	vars []string
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	return &env{t: t, dir: dir, vars: []string{
		"HOME=" + dir, "XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"ARCA_PASSWORD=pw", "PATH=" + os.Getenv("PATH"),
	}}
}

type result struct {
	code           int
	stdout, stderr string
}

func (e *env) run(args ...string) result {
	e.t.Helper()
	return e.runEnv(nil, args...)
}

func (e *env) runEnv(extra []string, args ...string) result {
	e.t.Helper()
	return e.exec(extra, nil, args...)
}

// exec runs the binary with the test's environment plus extra, and stdin.
func (e *env) exec(extra []string, stdin io.Reader, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(arcaBin, args...)
	cmd.Env = append(append([]string{}, e.vars...), extra...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func (e *env) must(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("arca %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

var cheapKDF = []string{"--kdf-time", "1", "--kdf-memory", "64", "--kdf-threads", "1"}

func (e *env) initRepo() string {
	repoDir := filepath.Join(e.dir, "repo")
	e.must(append([]string{"-r", repoDir, "init"}, cheapKDF...)...)
	return repoDir
}

func TestQuickStartDefaultRepository(t *testing.T) {
	e := newEnv(t)
	src := filepath.Join(e.dir, "Documents")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("hello"), 0o644)
	r := e.must("backup", src)
	def := filepath.Join(e.dir, "data", "arca", "repo")
	if !strings.Contains(r.stderr, "created the default repository") || !strings.Contains(r.stderr, def) {
		t.Errorf("first backup does not say where it created the repository:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(def, "config")); err != nil {
		t.Fatalf("default repository missing: %v", err)
	}
	r = e.must("backup", src)
	if strings.Contains(r.stderr, "created") {
		t.Errorf("second backup created the repository again")
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(e.must("snapshots", "--json").stdout), &list); err != nil || len(list) != 2 {
		t.Fatalf("snapshots --json: %d snapshots, %v", len(list), err)
	}
	if list[1]["parent"] != list[0]["id"] {
		t.Errorf("second snapshot's parent = %v; want %v", list[1]["parent"], list[0]["id"])
	}
}

func TestExitCodes(t *testing.T) {
	e := newEnv(t)
	if r := e.run("-r", filepath.Join(e.dir, "nothing"), "snapshots"); r.code != 10 {
		t.Errorf("no repository: exit %d; want 10\n%s", r.code, r.stderr)
	}
	repoDir := e.initRepo()
	r := e.runEnv([]string{"ARCA_PASSWORD=wrong"}, "-r", repoDir, "snapshots")
	if r.code != 12 || !strings.Contains(r.stderr, "wrong password or no key found") {
		t.Errorf("wrong password: exit %d, %q; want 12 and the message", r.code, r.stderr)
	}
	if r := e.run("-r", repoDir, "restore", "nonexistent", "--target", e.dir); r.code != 1 {
		t.Errorf("unknown snapshot: exit %d; want 1", r.code)
	}
	if r := e.run("-r", repoDir, "--help"); !strings.Contains(r.stdout, "12   wrong password") {
		t.Errorf("--help does not list exit codes:\n%s", r.stdout)
	}
}

// TestUnreadableFile checks exit code 3 and the snapshot's list of
// skipped files. As root it runs arca as the user nobody.
func TestUnreadableFile(t *testing.T) {
	e := newEnv(t)
	os.Chmod(filepath.Dir(e.dir), 0o755) // t.TempDir's parent
	os.Chmod(e.dir, 0o777)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	os.MkdirAll(src, 0o777)
	os.WriteFile(filepath.Join(src, "ok"), []byte("ok"), 0o644)
	os.WriteFile(filepath.Join(src, "secret"), []byte("secret"), 0o000)
	args := []string{"-r", repoDir, "--json", "backup", src}
	var r result
	if os.Getuid() == 0 {
		if _, err := exec.LookPath("runuser"); err != nil {
			t.Skip("root without runuser")
		}
		filepath.WalkDir(e.dir, func(p string, d os.DirEntry, err error) error {
			if filepath.Base(p) != "secret" {
				os.Chmod(p, 0o777)
			}
			return nil
		})
		cmd := exec.Command("runuser", append([]string{"-u", "nobody", "--", arcaBin}, args...)...)
		cmd.Env = e.vars
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		r = result{0, out.String(), errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
	} else {
		r = e.run(args...)
	}
	if r.code != 3 {
		t.Fatalf("exit %d; want 3\n%s%s", r.code, r.stdout, r.stderr)
	}
	var summary map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message_type"] == "summary" {
			summary = m
		}
	}
	errs, _ := summary["errors"].([]any)
	if len(errs) != 1 || !strings.Contains(fmt.Sprint(errs[0]), "secret") {
		t.Fatalf("summary errors = %v; want the unreadable file", summary["errors"])
	}
}

func TestBackupRestoreCLI(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	fstest.Generate(t, src, 7)
	r := e.must("-r", repoDir, "--json", "backup", "--tag", "one", "--host", "box", src)
	sum := lastSummaryMap(t, r.stdout)
	for _, k := range []string{"snapshot_id", "files_new", "files_changed", "files_unmodified", "dirs_new", "data_added",
		"total_files_processed", "total_bytes_processed", "total_duration"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("backup summary lacks %q", k)
		}
	}
	var list []map[string]any
	json.Unmarshal([]byte(e.must("-r", repoDir, "snapshots", "--json", "--host", "box").stdout), &list)
	if len(list) != 1 {
		t.Fatalf("snapshots --host box: %d", len(list))
	}
	for _, k := range []string{"id", "short_id", "time", "tree", "paths", "hostname", "username", "tags", "summary"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("snapshots --json lacks %q", k)
		}
	}
	id := list[0]["short_id"].(string)
	target := filepath.Join(e.dir, "target")
	e.must("-r", repoDir, "restore", id, "--target", target)
	fstest.Compare(t, src, filepath.Join(target, src))

	ls := e.must("-r", repoDir, "ls", "--recursive", "latest", src+"/dir").stdout
	if !strings.Contains(ls, src+"/dir/a/b/c/deep.txt") || strings.Contains(ls, src+"/small.txt") {
		t.Errorf("ls --recursive under dir:\n%q", ls)
	}
	ls = e.must("-r", repoDir, "ls", "latest:"+src+"/dir").stdout
	if !strings.Contains(ls, src+"/dir/a\n") || strings.Contains(ls, "deep.txt") {
		t.Errorf("ls of dir:\n%q", ls)
	}
	if long := e.must("-r", repoDir, "ls", "-l", "latest", src+"/exec.sh").stdout; !strings.HasPrefix(long, "-rwxr-xr-x") {
		t.Errorf("ls -l: %q", long)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(e.must("-r", repoDir, "cat", "config").stdout), &cfg); err != nil || cfg["version"] != 3.0 {
		t.Errorf("cat config: %v %v", cfg, err)
	}
	if out := e.must("-r", repoDir, "cat", "snapshot", "latest").stdout; !strings.Contains(out, `"hostname": "box"`) {
		t.Errorf("cat snapshot:\n%s", out)
	}
}

func TestKeyCommands(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	r := e.runEnv([]string{"ARCA_NEW_PASSWORD=second"}, append([]string{"-r", repoDir, "key", "add"}, cheapKDF...)...)
	if r.code != 0 {
		t.Fatalf("key add: %d %s", r.code, r.stderr)
	}
	var keys []map[string]any
	json.Unmarshal([]byte(e.must("-r", repoDir, "key", "list", "--json").stdout), &keys)
	if len(keys) != 2 {
		t.Fatalf("key list: %d keys", len(keys))
	}
	if r := e.runEnv([]string{"ARCA_PASSWORD=second"}, "-r", repoDir, "snapshots"); r.code != 0 {
		t.Fatalf("second password does not open: %s", r.stderr)
	}
	pwFile := filepath.Join(e.dir, "pwfile")
	os.WriteFile(pwFile, []byte("second\n"), 0o600)
	if r := e.runEnv([]string{"ARCA_PASSWORD="}, "-r", repoDir, "--password-file", pwFile, "snapshots"); r.code != 0 {
		t.Fatalf("--password-file: %s", r.stderr)
	}
	var other string
	for _, k := range keys {
		if k["current"] != true {
			other = k["id"].(string)
		}
	}
	e.must("-r", repoDir, "key", "remove", other[:12])
	if r := e.runEnv([]string{"ARCA_PASSWORD=second"}, "-r", repoDir, "snapshots"); r.code != 12 {
		t.Fatalf("removed password: exit %d; want 12", r.code)
	}
}

// TestKillResume kills a first backup with SIGKILL after some packs are
// uploaded and checks that the next run stores only what was missing.
// TestKillResume interrupts a first backup once a few packs are uploaded,
// by SIGKILL (no chance to clean up) and by SIGINT (Ctrl-C: exit 130), and
// checks that no snapshot was saved and the next run uploads only what is
// missing.
func TestKillResume(t *testing.T) {
	e := newEnv(t)
	src := filepath.Join(e.dir, "src")
	os.MkdirAll(src, 0o755)
	const files, size = 12, 12 << 20
	for i := range files {
		data := make([]byte, size)
		var seed [32]byte
		seed[0] = byte(i)
		rand.NewChaCha8(seed).Read(data) // incompressible, nothing to deduplicate
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d", i)), data, 0o644)
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			e := newEnv(t)
			repoDir := e.initRepo()
			countPacks := func() (n int, bytes int64) {
				filepath.WalkDir(filepath.Join(repoDir, "data"), func(p string, d os.DirEntry, err error) error {
					if d != nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
						fi, _ := d.Info()
						n++
						bytes += fi.Size()
					}
					return nil
				})
				return
			}
			cmd := exec.Command(arcaBin, "-r", repoDir, "backup", "--compression", "off", "--read-concurrency", "1", src)
			cmd.Env = e.vars
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for {
				if n, _ := countPacks(); n >= 3 {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatal("no packs appeared")
				}
				time.Sleep(2 * time.Millisecond)
			}
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			snaps, _ := os.ReadDir(filepath.Join(repoDir, "snapshots"))
			if len(snaps) != 0 {
				t.Skip("the backup finished before it could be interrupted")
			}
			if sig == syscall.SIGINT {
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
					t.Errorf("after Ctrl-C: %v; want exit 130", err)
				}
				// Ctrl-C lets the run index what it uploaded.
				if idx, _ := os.ReadDir(filepath.Join(repoDir, "index")); len(idx) == 0 {
					t.Error("an interrupted backup wrote no index file")
				}
			}
			packs, uploaded := countPacks()
			r := e.must("-r", repoDir, "--json", "backup", "--compression", "off", src)
			sum := lastSummaryMap(t, r.stdout)
			added := int64(sum["data_added"].(float64))
			total := int64(files * size)
			t.Logf("interrupted after %d packs (%d bytes); the rerun added %d of %d bytes", packs, uploaded, added, total)
			if added == 0 || added > total-uploaded+(1<<20) {
				t.Errorf("rerun added %d bytes; want at most the %d not uploaded before the interruption", added, total-uploaded)
			}
			target := filepath.Join(e.dir, "target")
			e.must("-r", repoDir, "restore", "latest", "--target", target)
			fstest.Compare(t, src, filepath.Join(target, src))
		})
	}
}

// TestRestoreCorruptPack flips one byte in a pack: restore names the pack
// and the file, exits non-zero, and does not leave the damaged file in
// place.
func TestRestoreCorruptPack(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	os.MkdirAll(src, 0o755)
	for i := range 3 {
		data := make([]byte, 200<<10)
		rand.NewChaCha8([32]byte{byte(i)}).Read(data)
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%d", i)), data, 0o644)
	}
	e.must("-r", repoDir, "backup", "--compression", "off", src)
	var packs []string
	filepath.WalkDir(filepath.Join(repoDir, "data"), func(p string, d os.DirEntry, err error) error {
		if d != nil && d.Type().IsRegular() {
			packs = append(packs, p)
		}
		return nil
	})
	// The data pack is the larger one; damage its first blob.
	sort.Slice(packs, func(i, j int) bool { return fileSize(packs[i]) > fileSize(packs[j]) })
	data, _ := os.ReadFile(packs[0])
	data[1000] ^= 0x80
	os.Chmod(packs[0], 0o600)
	os.WriteFile(packs[0], data, 0o600)

	target := filepath.Join(e.dir, "target")
	r := e.run("-r", repoDir, "restore", "latest", "--target", target)
	if r.code == 0 {
		t.Fatalf("restore of a damaged pack exited 0")
	}
	name := filepath.Base(packs[0])
	if !strings.Contains(r.stderr, name) || !strings.Contains(r.stderr, "corrupt") {
		t.Errorf("message does not name the corrupt pack %s:\n%s", name, r.stderr)
	}
	restored := 0
	for i := range 3 {
		got, err := os.ReadFile(filepath.Join(target, src, fmt.Sprintf("f%d", i)))
		if err != nil {
			continue
		}
		want, _ := os.ReadFile(filepath.Join(src, fmt.Sprintf("f%d", i)))
		if !bytes.Equal(got, want) {
			t.Errorf("f%d restored with wrong content", i)
		}
		restored++
	}
	if restored != 2 {
		t.Errorf("%d files restored; want the 2 undamaged ones", restored)
	}
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (e *env) runInput(input string, args ...string) result {
	e.t.Helper()
	return e.exec(nil, strings.NewReader(input), args...)
}

func (e *env) snapshots(repoDir string) []map[string]any {
	e.t.Helper()
	var list []map[string]any
	if err := json.Unmarshal([]byte(e.must("-r", repoDir, "snapshots", "--json").stdout), &list); err != nil {
		e.t.Fatal(err)
	}
	return list
}

func TestStdin(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	input := strings.Repeat("INSERT INTO t VALUES (1);\n", 50000)
	if r := e.runInput(input, "-r", repoDir, "backup", "--stdin", "--stdin-filename", "db.sql"); r.code != 0 {
		t.Fatalf("backup --stdin: %d %s", r.code, r.stderr)
	}
	list := e.snapshots(repoDir)
	if len(list) != 1 || fmt.Sprint(list[0]["paths"]) != "[/db.sql]" {
		t.Fatalf("snapshots: %v", list)
	}
	target := filepath.Join(e.dir, "target")
	e.must("-r", repoDir, "restore", "latest", "--target", target)
	if got, _ := os.ReadFile(filepath.Join(target, "db.sql")); string(got) != input {
		t.Fatalf("restored stream differs (%d bytes; want %d)", len(got), len(input))
	}

	// From a command.
	r := e.must("-r", repoDir, "--json", "backup", "--stdin-from-command", "--stdin-filename", "seq.txt", "--", "seq", "1", "200000")
	if !strings.Contains(r.stdout, `"message_type":"summary"`) {
		t.Fatalf("no summary: %s", r.stdout)
	}
	want, _ := exec.Command("seq", "1", "200000").Output()
	os.RemoveAll(target)
	e.must("-r", repoDir, "restore", "latest", "--target", target)
	if got, _ := os.ReadFile(filepath.Join(target, "seq.txt")); !bytes.Equal(got, want) {
		t.Fatal("restored command output differs")
	}

	// A failing command saves no snapshot and reports its stderr.
	r = e.run("-r", repoDir, "backup", "--stdin-from-command", "--", "sh", "-c", "seq 1 100000; echo 'pg_dump: error: connection refused' >&2; exit 3")
	if r.code == 0 || !strings.Contains(r.stderr, "connection refused") || !strings.Contains(r.stderr, "no snapshot") {
		t.Fatalf("failing command: exit %d, stderr %q", r.code, r.stderr)
	}
	if n := len(e.snapshots(repoDir)); n != 2 {
		t.Fatalf("%d snapshots after the failing command; want 2", n)
	}
	if r := e.run("-r", repoDir, "backup", "--stdin-from-command", "--", "/nonexistent/cmd"); r.code == 0 {
		t.Fatal("missing command accepted")
	}
}

// TestProgressOnTerminal runs a backup under a pseudo-terminal (script(1))
// and through a pipe: the progress line is redrawn in place on the
// terminal and absent from the pipe.
func TestProgressOnTerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) not installed")
	}
	e := newEnv(t)
	repoDir := e.initRepo()
	slow := []string{"-r", repoDir, "backup", "--stdin-from-command", "--", "sh", "-c", "seq 1 20000; sleep 1.2; seq 1 20000"}
	cmdline := arcaBin
	for _, a := range slow {
		cmdline += " '" + a + "'"
	}
	tty := exec.Command("script", "-qefc", cmdline, "/dev/null")
	tty.Env = e.vars
	out, err := tty.Output()
	if err != nil {
		t.Fatalf("under script: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("\r\x1b[K")) || !bytes.Contains(out, []byte("files, ")) {
		t.Errorf("no progress line on the terminal:\n%q", out)
	}
	piped := e.must(slow...)
	if strings.Contains(piped.stdout, "\r") || strings.Contains(piped.stdout, "\x1b[") {
		t.Errorf("progress output in a pipe:\n%q", piped.stdout)
	}
	if !strings.Contains(piped.stdout, "snapshot") {
		t.Errorf("no summary in the pipe:\n%s", piped.stdout)
	}
}
