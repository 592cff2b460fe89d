package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arcabackup/arca/repo/fstest"
)

// TestStress runs four backup processes at once into one repository, each
// a host of its own (own cache, own hostname), over data that overlaps
// between hosts and between rounds, while forget and prune (margin 0) run
// beside them; then, with random kill -9 of backups and prunes. Afterwards
// check --read-data finds nothing wrong and every snapshot left restores
// byte-identical. ARCA_STRESS_ROUNDS sets the rounds per writer (make
// stress runs many).
func TestStress(t *testing.T) {
	rounds := 6
	if s := os.Getenv("ARCA_STRESS_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("ARCA_STRESS_ROUNDS=%q", s)
		}
		rounds = n
	}
	for _, kill := range []bool{false, true} {
		t.Run(fmt.Sprintf("kill=%v", kill), func(t *testing.T) { runStress(t, rounds, kill) })
	}
}

// proc runs one arca process that may be killed; it returns the exit code
// (-1 when killed), the standard output and the error output.
func (e *env) proc(kill time.Duration, extra []string, args ...string) (int, string, string) {
	cmd := exec.Command(arcaBin, args...)
	cmd.Env = append(append([]string{}, e.vars...), extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return -2, "", err.Error()
	}
	if kill > 0 {
		timer := time.AfterFunc(kill, func() { cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, out.String(), errb.String()
		}
		return ee.ExitCode(), out.String(), errb.String()
	}
	if err != nil {
		return -2, "", err.Error()
	}
	return 0, out.String(), errb.String()
}

func runStress(t *testing.T, rounds int, kill bool) {
	e := newEnv(t)
	repoDir := e.initRepo()
	rng := rand.New(rand.NewPCG(1, uint64(rounds)))
	var rngMu sync.Mutex
	killAfter := func(prob float64) time.Duration {
		rngMu.Lock()
		defer rngMu.Unlock()
		if !kill || rng.Float64() >= prob {
			return 0
		}
		return time.Duration(30+rng.IntN(500)) * time.Millisecond
	}
	// Sources: shared files, a file carried over from the writer's
	// previous round, and one new to the round.
	shared := filepath.Join(e.dir, "shared")
	randomFiles(t, shared, 4, 300<<10, 200)
	source := func(w, i int) string {
		src := filepath.Join(e.dir, fmt.Sprintf("src-%d-%d", w, i))
		for _, name := range []string{"f00", "f01", "f02", "f03"} {
			data, err := os.ReadFile(filepath.Join(shared, name))
			if err != nil {
				t.Error(err)
				return src
			}
			os.MkdirAll(src, 0o755)
			os.WriteFile(filepath.Join(src, "shared-"+name), data, 0o644)
		}
		for _, r := range []int{i - 1, i} {
			if r < 0 {
				continue
			}
			data := make([]byte, 600<<10+r*1000)
			rand.NewChaCha8([32]byte{byte(w), byte(r), 7}).Read(data)
			os.WriteFile(filepath.Join(src, fmt.Sprintf("round-%d", r)), data, 0o644)
		}
		fstest.WriteFiles(t, filepath.Join(src, "small"), map[string]string{
			"a": strings.Repeat("writer ", 100+w), fmt.Sprintf("b%d", i): strings.Repeat("round ", 50+i),
		})
		return src
	}
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	sources := map[string]string{} // tag -> source
	var prunes, deleted, unmarked, waited int
	var writers sync.WaitGroup
	ctx, stop := context.WithCancel(context.Background())
	for w := range 4 {
		writers.Go(func() {
			cache := []string{"ARCA_CACHE_DIR=" + filepath.Join(e.dir, fmt.Sprintf("cache-%d", w))}
			for i := range rounds {
				src := source(w, i)
				tag := fmt.Sprintf("w%d-r%d", w, i)
				mu.Lock()
				sources[tag] = src
				mu.Unlock()
				code, out, errs := e.proc(killAfter(0.3), cache, "-r", repoDir, "backup", "-q", "--host", fmt.Sprintf("host%d", w), "--tag", tag, src)
				if code != 0 && code != -1 {
					fail("backup %s: exit %d\n%s%s", tag, code, out, errs)
				}
			}
		})
	}
	// Maintenance beside the writers: forget, then two prunes, then more
	// of the same while the writers run.
	var maint sync.WaitGroup
	maint.Go(func() {
		cache := []string{"ARCA_CACHE_DIR=" + filepath.Join(e.dir, "cache-maint")}
		for n := 0; ; n++ {
			time.Sleep(200 * time.Millisecond)
			code, out, errs := e.proc(0, cache, "-r", repoDir, "forget", "-q", "--keep-last", "2", "--group-by", "host")
			if code != 0 {
				fail("forget: exit %d\n%s%s", code, out, errs)
			}
			for range 2 {
				code, out, errs := e.proc(killAfter(0.3), cache, "-r", repoDir, "prune", "--json", "--margin", "0s", "--max-unused", "0%")
				if code != 0 && code != -1 {
					fail("prune: exit %d\n%s%s", code, out, errs)
				}
				if os.Getenv("ARCA_STRESS_LOG") != "" {
					t.Logf("prune: exit %d\n%s%s", code, out, errs)
				}
				var sum struct {
					Type     string              `json:"message_type"`
					Deleted  struct{ Packs int } `json:"deleted"`
					Unmarked struct{ Packs int } `json:"unmarked"`
					Waiting  []any               `json:"waiting"`
				}
				for _, line := range strings.Split(out, "\n") {
					if sum.Type != "summary" {
						json.Unmarshal([]byte(line), &sum)
					}
				}
				if code == 0 && sum.Type == "summary" {
					mu.Lock()
					prunes++
					deleted += sum.Deleted.Packs
					unmarked += sum.Unmarked.Packs
					waited += len(sum.Waiting)
					mu.Unlock()
				}
			}
			if n > 0 && ctx.Err() != nil {
				return
			}
		}
	})
	writers.Wait()
	stop()
	maint.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if t.Failed() {
		return
	}
	// Settle: remove the heartbeats of killed processes, forget, and prune
	// until the marked packs are gone.
	e.must("-r", repoDir, "unlock")
	e.must("-r", repoDir, "forget", "--keep-last", "2", "--group-by", "host")
	e.must("-r", repoDir, "prune", "--margin", "0s")
	if r := e.must("-r", repoDir, "prune", "--margin", "0s"); strings.Contains(r.stdout, "waits") {
		t.Errorf("the final prune still waits:\n%s", r.stdout)
	}
	if r := e.run("-r", repoDir, "check", "--read-data"); r.code != 0 || !strings.Contains(r.stdout, "no errors were found") || strings.Contains(r.stdout, "notice") {
		t.Fatalf("check --read-data: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	list := e.snapshots(repoDir)
	if len(list) == 0 {
		t.Fatal("no snapshot left")
	}
	for _, sn := range list {
		tags, _ := sn["tags"].([]any)
		if len(tags) != 1 {
			t.Errorf("snapshot %v: tags %v", sn["id"], tags)
			continue
		}
		src := sources[tags[0].(string)]
		target := filepath.Join(e.dir, "restore-"+tags[0].(string))
		if r := e.run("-r", repoDir, "restore", sn["id"].(string), "--target", target); r.code != 0 {
			t.Errorf("restore %s: exit %d\n%s", tags[0], r.code, r.stderr)
			continue
		}
		fstest.Compare(t, src, filepath.Join(target, src))
	}
	t.Logf("%d rounds per writer; %d prunes beside the writers deleted %d packs, kept %d marked packs that new snapshots used, waited for writers %d times; %d snapshots left, all restored",
		rounds, prunes, deleted, unmarked, waited, len(list))
}
