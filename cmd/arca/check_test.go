package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend/local"
)

type checkOut struct {
	problems map[string][]string // item -> affected
	kinds    map[string]string   // item -> error or notice
	summary  map[string]any
}

func runCheck(t *testing.T, e *env, repoDir string, args ...string) (checkOut, result) {
	t.Helper()
	r := e.run(append([]string{"-r", repoDir, "--json", "--no-cache", "check"}, args...)...)
	out := checkOut{problems: map[string][]string{}, kinds: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		switch m["message_type"] {
		case "error", "notice":
			item := m["item"].(string)
			out.kinds[item] = m["message_type"].(string)
			for _, a := range m["affected"].([]any) {
				out.problems[item] = append(out.problems[item], a.(string))
			}
			if _, ok := out.problems[item]; !ok {
				out.problems[item] = nil
			}
		case "summary":
			out.summary = m
		}
	}
	return out, r
}

// TestCheck: a clean repository checks clean; each kind of damage is found
// (data damage only when the data is read), named, and the files that
// lose content are listed with their snapshots; a pack in no index is a
// notice, not an error.
func TestCheck(t *testing.T) {
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(3, 200000, 40)
	e.must("-r", repoDir, "backup", "--compression", "off", src)
	id := e.snapshots(repoDir)[0]["short_id"].(string)
	if out, r := runCheck(t, e, repoDir, "--read-data"); r.code != 0 || len(out.problems) != 0 || out.summary["packs_read"].(float64) != 2 {
		t.Fatalf("clean repository: exit %d, problems %v, summary %v\n%s", r.code, out.problems, out.summary, r.stderr)
	}
	// A flipped byte in a data blob: found only by reading the data.
	data := repoFiles(t, repoDir, "data")[0]
	name := filepath.Base(data)
	flipAt(t, data, 1000)
	if out, r := runCheck(t, e, repoDir); r.code != 0 || len(out.problems) != 0 {
		t.Errorf("structure check of a data flip: exit %d, %v", r.code, out.problems)
	}
	out, r := runCheck(t, e, repoDir, "--read-data")
	lost := out.problems["pack "+name]
	if r.code != 1 || len(lost) != 1 || !strings.HasPrefix(lost[0], "snapshot "+id+" "+filepath.Join(src, "f0")) {
		t.Errorf("read-data of a data flip: exit %d, problems %v; want pack %s losing one file of snapshot %s", r.code, out.problems, name[:8], id)
	}
	flipAt(t, data, 1000)
	// A pack in no index file is a notice.
	stray := filepath.Join(repoDir, "data", "ab", "ab"+strings.Repeat("0", 62))
	os.WriteFile(stray, []byte("x"), 0o600)
	if out, r := runCheck(t, e, repoDir); r.code != 0 || out.kinds["pack "+filepath.Base(stray)] != "notice" {
		t.Errorf("orphan pack: exit %d, %v", r.code, out.kinds)
	}
	os.Remove(stray)
	// A missing pack: every file in it is listed.
	os.Remove(data)
	out, r = runCheck(t, e, repoDir)
	if r.code != 1 || len(out.problems["pack "+name]) != 3 {
		t.Errorf("missing pack: exit %d, %v; want the three files lost", r.code, out.problems)
	}
}

// TestCheckDamagedFiles: damaged index and snapshot files are errors
// naming them.
func TestCheckDamagedFiles(t *testing.T) {
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(1, 1000, 41)
	e.must("-r", repoDir, "backup", src)
	e.must("-r", repoDir, "backup", src)
	idx, snap := repoFiles(t, repoDir, "index")[0], repoFiles(t, repoDir, "snapshots")[0]
	flipAt(t, idx, 20)
	flipAt(t, snap, 20)
	out, r := runCheck(t, e, repoDir)
	for _, want := range []string{"index/" + filepath.Base(idx), "snapshots/" + filepath.Base(snap)} {
		if _, ok := out.problems[want]; !ok || r.code != 1 {
			t.Errorf("exit %d, problems %v; want one for %s", r.code, out.problems, want)
		}
	}
}

// TestCheckSubsets: the N/T subsets of a repository together read every
// pack exactly once; P% and a size read some.
func TestCheckSubsets(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	for i := range 6 {
		src := filepath.Join(e.dir, "src", string(rune('a'+i)))
		randomFiles(t, src, 1, 1000, byte(50+i))
		e.must("-r", repoDir, "backup", src)
	}
	total := 0.0
	for n := 1; n <= 3; n++ {
		out, r := runCheck(t, e, repoDir, "--read-data-subset", string(rune('0'+n))+"/3")
		if r.code != 0 {
			t.Fatalf("subset %d/3: exit %d\n%s", n, r.code, r.stderr)
		}
		total += out.summary["packs_read"].(float64)
	}
	all, _ := runCheck(t, e, repoDir, "--read-data")
	if total != all.summary["packs"].(float64) {
		t.Errorf("1/3, 2/3 and 3/3 read %v packs; the repository has %v", total, all.summary["packs"])
	}
	for _, s := range []string{"50%", "1K"} {
		if out, r := runCheck(t, e, repoDir, "--read-data-subset", s); r.code != 0 || out.summary["packs_read"].(float64) < 1 {
			t.Errorf("subset %s: exit %d, %v packs read", s, r.code, out.summary["packs_read"])
		}
	}
	if _, r := runCheck(t, e, repoDir, "--read-data-subset", "4/3"); r.code == 0 {
		t.Error("subset 4/3 was accepted")
	}
}

// TestHeartbeatsCLI: writers leave no heartbeat when they finish; a killed
// backup's stays, is reported by the next writer, and unlock removes it
// (its process is gone on this host).
func TestHeartbeatsCLI(t *testing.T) {
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(1, 1000, 60)
	locks := func() int { return len(repoFiles(t, repoDir, "locks")) }
	e.must("-r", repoDir, "backup", src)
	e.must("-r", repoDir, "tag", "--add", "x")
	e.must("-r", repoDir, "forget", "--keep-last", "5")
	if n := locks(); n != 0 {
		t.Fatalf("%d heartbeats left by finished writers", n)
	}
	big := filepath.Join(e.dir, "big")
	randomFiles(t, big, 8, 8<<20, 61)
	cmd := exec.Command(arcaBin, "-r", repoDir, "backup", "--compression", "off", "--read-concurrency", "1", big)
	cmd.Env = e.vars
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); locks() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no heartbeat appeared")
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if n := locks(); n != 1 {
		t.Fatalf("%d heartbeats after kill -9; want the killed backup's", n)
	}
	r := e.must("-r", repoDir, "backup", src)
	if !strings.Contains(r.stderr, "stale heartbeat") || !strings.Contains(r.stderr, "arca unlock") {
		t.Errorf("the next writer does not report the stale heartbeat:\n%s", r.stderr)
	}
	r = e.must("-r", repoDir, "unlock")
	if !strings.Contains(r.stdout, "removed the stale heartbeat of backup") || locks() != 0 {
		t.Errorf("unlock: %q, %d heartbeats left", r.stdout, locks())
	}
}

// TestConcurrentTags: two hosts tagging one snapshot at once both succeed
// and leave one snapshot with both tags.
func TestConcurrentTags(t *testing.T) {
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(1, 1000, 3)
	e.must("-r", repoDir, "backup", src)
	want := []string{}
	for i := range 4 {
		var wg sync.WaitGroup
		results := make([]result, 2)
		for h := range 2 {
			tag := fmt.Sprintf("t%d-%d", i, h)
			want = append(want, tag)
			wg.Go(func() {
				results[h] = e.runEnv([]string{"ARCA_CACHE_DIR=" + filepath.Join(e.dir, fmt.Sprintf("cache-%d", h))}, "-r", repoDir, "tag", "--add", tag, "latest")
			})
		}
		wg.Wait()
		for _, r := range results {
			if r.code != 0 {
				t.Fatalf("tag: exit %d\n%s", r.code, r.stderr)
			}
		}
	}
	list := e.snapshots(repoDir)
	if len(list) != 1 {
		t.Fatalf("%d snapshots; want 1", len(list))
	}
	var got []string
	for _, tg := range list[0]["tags"].([]any) {
		got = append(got, tg.(string))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("tags %v; want %v", got, want)
	}
	e.must("-r", repoDir, "tag", "--add", "last", "latest")
	if files := repoFiles(t, repoDir, "snapshots"); len(files) != 1 {
		t.Errorf("%d snapshot files after a later tag; want 1", len(files))
	}
}

// TestPruneCLI: forget --prune marks, a later prune deletes; a dry run
// changes nothing; a format 1 repository is refused until migrate.
func TestPruneCLI(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	randomFiles(t, src, 3, 300<<10, 1)
	e.must("-r", repoDir, "backup", src)
	os.RemoveAll(src)
	randomFiles(t, src, 3, 300<<10, 2)
	e.must("-r", repoDir, "backup", src)
	before := len(repoFiles(t, repoDir, "data"))

	e.must("-r", repoDir, "forget", "--keep-last", "1")
	dry := e.must("-r", repoDir, "prune", "--dry-run")
	if !strings.Contains(dry.stdout, "would be") || len(repoFiles(t, repoDir, "prune")) != 0 {
		t.Fatalf("prune --dry-run:\n%s", dry.stdout)
	}
	r := e.must("-r", repoDir, "prune", "--margin", "0s")
	if !strings.Contains(r.stdout, "marked") || len(repoFiles(t, repoDir, "data")) != before {
		t.Fatalf("prune:\n%s", r.stdout)
	}
	r = e.must("-r", repoDir, "prune", "--margin", "1h")
	if !strings.Contains(r.stdout, "waits") || len(repoFiles(t, repoDir, "data")) != before {
		t.Fatalf("prune within the margin:\n%s", r.stdout)
	}
	var sum map[string]any
	r = e.must("-r", repoDir, "--json", "prune", "--margin", "0s")
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum["deleted"].(map[string]any)["packs"].(float64) == 0 {
		t.Fatalf("prune after the margin: %v\n%s", err, r.stdout)
	}
	if n := len(repoFiles(t, repoDir, "data")); n >= before {
		t.Errorf("%d packs after prune; %d before", n, before)
	}
	e.must("-r", repoDir, "check", "--read-data")
	if r := e.restoreAndCompare(repoDir, "latest", src); r.code != 0 {
		t.Errorf("restore after prune: exit %d\n%s", r.code, r.stderr)
	}
	os.RemoveAll(src)
	randomFiles(t, src, 3, 300<<10, 3)
	e.must("-r", repoDir, "backup", src)
	if r := e.must("-r", repoDir, "forget", "--keep-last", "1", "--prune", "--margin", "0s"); !strings.Contains(r.stdout, "2 unused") {
		t.Errorf("forget --prune:\n%s", r.stdout)
	}

	// Format 1: refused until migrate.
	be, err := local.Open(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := repo.Open(t.Context(), be, []byte("pw"), repo.OpenOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rp.Config()
	cfg.Version = repo.ConfigVersion1
	data, _ := repo.SealFile(rp.Key(), crypto.KindConfig, []byte(repo.EncodeConfig(cfg)))
	rp.Close()
	os.WriteFile(filepath.Join(repoDir, "config"), data, 0o600)
	if r := e.run("-r", repoDir, "prune"); r.code != 1 || !strings.Contains(r.stderr, "arca migrate") {
		t.Fatalf("prune on format 1: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.must("-r", repoDir, "migrate"); !strings.Contains(r.stdout, "from format version 1 to 3") {
		t.Fatalf("migrate:\n%s", r.stdout)
	}
	e.must("-r", repoDir, "prune")
	e.must("-r", repoDir, "check")
}
