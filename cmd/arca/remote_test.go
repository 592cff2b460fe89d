package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcabackup/arca/repo/backend/backendtest"
	"github.com/arcabackup/arca/repo/fstest"
)

// remote is a repository on a real server a test started.
type remote struct {
	name string
	loc  string
	args []string // global flags (-o ...)
	env  []string
}

// remotes start a server of each remote kind on loopback.
var remotes = []struct {
	name  string
	start func(t *testing.T) remote
}{
	{"s3", func(t *testing.T) remote {
		srv := backendtest.StartVersityGW(t)
		return remote{name: "s3", loc: "s3:http://" + srv.Addr + "/arca/repo", args: []string{"-o", "s3.bucket-lookup=path"},
			env: []string{"AWS_ACCESS_KEY_ID=" + backendtest.S3KeyID, "AWS_SECRET_ACCESS_KEY=" + backendtest.S3Secret, "AWS_DEFAULT_REGION=us-east-1"}}
	}},
	{"sftp", func(t *testing.T) remote {
		srv := backendtest.StartSSHD(t)
		return remote{name: "sftp", loc: "sftp:127.0.0.1:" + filepath.Join(t.TempDir(), "repo"),
			args: []string{"-o", "sftp.command=" + strings.Join(srv.Command(), " "), "-o", "sftp.connections=2"}}
	}},
	{"rclone", func(t *testing.T) remote {
		if _, err := exec.LookPath("rclone"); err != nil {
			backendtest.Skip(t, "rclone is not installed (make deps installs it)")
		}
		dir := t.TempDir()
		return remote{name: "rclone", loc: "rclone:" + filepath.Join(dir, "repo"),
			args: []string{"-o", "rclone.args=--config " + filepath.Join(dir, "rclone.conf")}}
	}},
	{"rest", func(t *testing.T) remote {
		srv := backendtest.StartRclone(t)
		return remote{name: "rest", loc: "rest:http://" + srv.Addr + "/repo/",
			env: []string{"ARCA_REST_USERNAME=" + backendtest.RcloneUser, "ARCA_REST_PASSWORD=" + backendtest.RclonePassword}}
	}},
}

// nestedTree writes files of random content in nested directories.
func nestedTree(t *testing.T, dir string, seed byte) {
	for i := range 4 {
		randomFiles(t, filepath.Join(dir, fmt.Sprintf("d%d", i), "sub"), 3, 50<<10*(i+1), seed+byte(i))
	}
	randomFiles(t, dir, 2, 3<<20, seed+10)
}

// TestRemoteEndToEnd: on S3 (versitygw), SFTP (sshd) and REST (rclone
// serve restic): init, backup, restore byte-identical, a second backup,
// check --read-data, forget, prune, and the kept snapshot still restores.
func TestRemoteEndToEnd(t *testing.T) {
	for _, kind := range remotes {
		t.Run(kind.name, func(t *testing.T) {
			rm := kind.start(t)
			e := newEnv(t)
			e.vars = append(e.vars, rm.env...)
			arca := func(args ...string) result {
				t.Helper()
				return e.must(append(append([]string{"-r", rm.loc}, rm.args...), args...)...)
			}
			arca(append([]string{"init"}, cheapKDF...)...)
			src := filepath.Join(e.dir, "src")
			nestedTree(t, src, 1)
			arca("backup", src)
			target := filepath.Join(e.dir, "restored1")
			arca("restore", "latest", "--target", target)
			fstest.Compare(t, src, filepath.Join(target, src))

			os.RemoveAll(filepath.Join(src, "d0"))
			nestedTree(t, filepath.Join(src, "new"), 20)
			arca("backup", src)
			arca("check", "--read-data")
			arca("forget", "--keep-last", "1")
			var sum struct {
				Deleted struct{ Packs int } `json:"deleted"`
			}
			out := arca("--json", "prune", "--now", "--max-unused", "0")
			if err := json.Unmarshal([]byte(out.stdout), &sum); err != nil || sum.Deleted.Packs == 0 {
				t.Errorf("%s: prune --now deleted no pack (%v):\n%s", rm.name, err, out.stdout)
			}
			arca("check", "--read-data")
			target = filepath.Join(e.dir, "restored2")
			arca("restore", "latest", "--target", target)
			fstest.Compare(t, src, filepath.Join(target, src))
			if snaps := arca("--json", "snapshots").stdout; strings.Count(snaps, `"id"`) != 1 {
				t.Errorf("%s: snapshots after forget:\n%s", rm.name, snaps)
			}
		})
	}
}

// requestsLine parses the -vv request summary on stderr.
func requestsLine(t *testing.T, stderr string) (total, data int) {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if rest, ok := strings.CutPrefix(line, "requests: "); ok {
			fmt.Sscanf(rest, "%d", &total)
			_, after, _ := strings.Cut(rest, " data ")
			fmt.Sscanf(after, "%d", &data)
			return total, data
		}
	}
	t.Fatalf("no request summary in:\n%s", stderr)
	return 0, 0
}

// TestRequestCounts, on rclone serve restic: an unchanged re-backup makes
// as many requests for a tree of 1,000 directories as for one of 10 (trees
// come from the local cache), and a second ls of a snapshot loads nothing
// from data/.
func TestRequestCounts(t *testing.T) {
	srv := backendtest.StartRclone(t)
	counts := map[int]int{}
	for _, dirs := range []int{10, 1000} {
		e := newEnv(t)
		e.vars = append(e.vars, "ARCA_REST_USERNAME="+backendtest.RcloneUser, "ARCA_REST_PASSWORD="+backendtest.RclonePassword)
		loc := fmt.Sprintf("rest:http://%s/dirs%d/", srv.Addr, dirs)
		e.must(append([]string{"-r", loc, "init"}, cheapKDF...)...)
		src := filepath.Join(e.dir, "src")
		for i := range dirs {
			d := filepath.Join(src, fmt.Sprintf("d%03d", i/100), fmt.Sprintf("e%04d", i))
			os.MkdirAll(d, 0o755)
			os.WriteFile(filepath.Join(d, "f"), []byte(fmt.Sprint("file ", i)), 0o644)
		}
		e.must("-r", loc, "backup", src)
		total, _ := requestsLine(t, e.must("-r", loc, "-vv", "backup", src).stderr)
		counts[dirs] = total

		// ls: the first run on a host with a cold cache reads the trees,
		// the second reads none.
		cold := newEnv(t)
		cold.vars = e.vars[:len(e.vars):len(e.vars)]
		cold.vars = append(cold.vars, "XDG_CACHE_HOME="+filepath.Join(t.TempDir(), "cache"))
		_, first := requestsLine(t, cold.must("-r", loc, "-vv", "ls", "latest").stderr)
		_, second := requestsLine(t, cold.must("-r", loc, "-vv", "ls", "latest").stderr)
		if first == 0 || second != 0 {
			t.Errorf("%d directories: ls read data/ %d times, then %d; want some, then none", dirs, first, second)
		}
	}
	if counts[1000] != counts[10] || counts[10] == 0 {
		t.Errorf("unchanged re-backup: %d requests for 1,000 directories, %d for 10; want as many", counts[1000], counts[10])
	}
	t.Logf("unchanged re-backup: %d requests for 10 and for 1,000 directories", counts[10])
}

// TestFaultInjection: through a proxy that fails 10% of the requests to a
// REST server (503s, uploads cut short, downloads cut half-way), backups,
// restores, forget and prune complete, and check --read-data is clean, seen
// through the proxy and seen directly.
func TestFaultInjection(t *testing.T) {
	srv := backendtest.StartRclone(t)
	proxy := backendtest.StartFaultyProxy(t, "http://"+srv.Addr, 10)
	e := newEnv(t)
	e.vars = append(e.vars, "ARCA_REST_USERNAME="+backendtest.RcloneUser, "ARCA_REST_PASSWORD="+backendtest.RclonePassword)
	flaky := "rest:http://" + proxy.Addr + "/repo/"
	direct := "rest:http://" + srv.Addr + "/repo/"
	arca := func(loc string, args ...string) result {
		t.Helper()
		return e.must(append([]string{"-r", loc, "-o", "rest.connections=4"}, args...)...)
	}
	arca(flaky, append([]string{"init"}, cheapKDF...)...)
	src := filepath.Join(e.dir, "src")
	nestedTree(t, src, 1)
	arca(flaky, "backup", src)
	target := filepath.Join(e.dir, "restored1")
	arca(flaky, "restore", "latest", "--target", target)
	fstest.Compare(t, src, filepath.Join(target, src))
	for i := range 3 {
		os.RemoveAll(filepath.Join(src, fmt.Sprintf("d%d", i)))
		nestedTree(t, filepath.Join(src, fmt.Sprintf("new%d", i)), byte(20+i))
		arca(flaky, "backup", src)
	}
	arca(flaky, "forget", "--keep-last", "1")
	arca(flaky, "prune", "--now", "--max-unused", "0")
	target = filepath.Join(e.dir, "restored2")
	arca(flaky, "restore", "latest", "--target", target)
	fstest.Compare(t, src, filepath.Join(target, src))
	for _, loc := range []string{flaky, direct} {
		if r := arca(loc, "check", "--read-data"); !strings.Contains(r.stdout, "no errors") {
			t.Errorf("check --read-data on %s:\n%s", loc, r.stdout)
		}
	}
	t.Logf("proxy: %d requests passed, %d refused, %d uploads cut, %d downloads cut",
		proxy.Passed.Load(), proxy.Refused.Load(), proxy.CutUp.Load(), proxy.CutDown.Load())
	if proxy.Refused.Load() == 0 || proxy.CutUp.Load() == 0 || proxy.CutDown.Load() == 0 {
		t.Error("the proxy did not inject every kind of failure")
	}
}

// TestCopyToS3: copy takes the snapshots of a local repository to one on
// S3 with another password; the copy restores byte-identical, and a second
// copy skips them and uploads no pack.
func TestCopyToS3(t *testing.T) {
	srv := backendtest.StartVersityGW(t)
	e := newEnv(t)
	e.vars = append(e.vars, "AWS_ACCESS_KEY_ID="+backendtest.S3KeyID, "AWS_SECRET_ACCESS_KEY="+backendtest.S3Secret,
		"AWS_DEFAULT_REGION=us-east-1", "ARCA_FROM_PASSWORD=pw")
	local := e.initRepo()
	src := filepath.Join(e.dir, "src")
	nestedTree(t, src, 1)
	e.must("-r", local, "backup", src)
	nestedTree(t, filepath.Join(src, "more"), 30)
	e.must("-r", local, "backup", src)

	s3 := []string{"-r", "s3:http://" + srv.Addr + "/arca/copy", "-o", "s3.bucket-lookup=path"}
	e.must(append(append(s3, "init"), cheapKDF...)...)
	var sum struct {
		Copied      []struct{ Source, Copy string }
		Skipped     int
		BlobsStored int `json:"blobs_stored"`
		Requests    struct{ Saves int }
	}
	out := e.must(append(s3, "--json", "copy", "--from-repo", local)...).stdout
	if err := json.Unmarshal([]byte(lastLine(out)), &sum); err != nil || len(sum.Copied) != 2 || sum.BlobsStored == 0 {
		t.Fatalf("first copy (%v):\n%s", err, out)
	}
	target := filepath.Join(e.dir, "restored")
	e.must(append(s3, "restore", "latest", "--target", target)...)
	fstest.Compare(t, src, filepath.Join(target, src))

	sum.Copied = nil
	out = e.must(append(s3, "--json", "copy", "--from-repo", local)...).stdout
	if err := json.Unmarshal([]byte(lastLine(out)), &sum); err != nil || len(sum.Copied) != 0 || sum.Skipped != 2 || sum.Requests.Saves > 2 {
		t.Fatalf("second copy (%v): want both skipped and only the heartbeat saved:\n%s", err, out)
	}
	e.must(append(s3, "check", "--read-data")...)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
