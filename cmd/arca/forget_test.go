package main_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// forgetKept runs forget --dry-run --json and returns, for every kept
// snapshot, its time (Unix seconds) and the rules that keep it.
func forgetKept(t *testing.T, out string) map[int64]string {
	t.Helper()
	var groups []struct {
		Reasons []struct {
			Snapshot struct {
				Time time.Time `json:"time"`
			} `json:"snapshot"`
			Matches []string `json:"matches"`
		} `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(out), &groups); err != nil {
		t.Fatalf("forget --json: %v\n%s", err, out)
	}
	kept := map[int64]string{}
	for _, g := range groups {
		for _, r := range g.Reasons {
			kept[r.Snapshot.Time.Unix()] = strings.Join(r.Matches, ", ")
		}
	}
	return kept
}

// TestForgetMatchesRestic backs up the same year of snapshot times (dense
// lately, sparser back to last year, across a year boundary, some
// tagged) with restic (Debian's 0.14) and with arca, and checks that every
// policy keeps the same snapshots for the same reasons.
func TestForgetMatchesRestic(t *testing.T) {
	if _, err := exec.LookPath("restic"); err != nil {
		t.Skip("restic is not installed (make deps installs it)")
	}
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(1, 100, 30)
	resticRepo := filepath.Join(e.dir, "restic")
	restic := func(args ...string) string {
		cmd := exec.Command("restic", append([]string{"-r", resticRepo, "--no-cache"}, args...)...)
		cmd.Env = append(os.Environ(), "RESTIC_PASSWORD=pw")
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("restic %q: %v", args, err)
		}
		return string(out)
	}
	restic("init", "-q")

	now := time.Now().Truncate(time.Hour)
	rng := rand.New(rand.NewPCG(7, 7))
	var times []time.Time
	for h := 2; h < 72; h += 4 + rng.IntN(3) { // the last three days: every few hours
		times = append(times, now.Add(-time.Duration(h)*time.Hour))
	}
	for d := 3; d < 31; d++ { // the month before: daily, some days twice
		day := now.AddDate(0, 0, -d).Add(time.Duration(rng.IntN(600)) * time.Minute)
		times = append(times, day)
		if rng.IntN(4) == 0 {
			times = append(times, day.Add(3*time.Hour))
		}
	}
	for w := 5; w < 58; w += 2 { // back beyond a year: every other week
		times = append(times, now.AddDate(0, 0, -7*w).Add(time.Duration(rng.IntN(2000))*time.Minute))
	}
	backupArgs := func(i int) []string {
		args := []string{"backup", "--time", times[i].Local().Format("2006-01-02 15:04:05"), "--host", "h"}
		if i%9 == 4 {
			args = append(args, "--tag", "keep")
		}
		return args
	}
	// restic's backups run three at a time (each spends most of its time
	// deriving its key), arca's beside them.
	var wg sync.WaitGroup
	next := make(chan int)
	for range 3 {
		wg.Go(func() {
			for i := range next {
				restic(append(append(backupArgs(i), "-q"), src)...)
			}
		})
	}
	wg.Go(func() {
		for i := range times {
			e.must(append(append([]string{"-r", repoDir}, backupArgs(i)...), src)...)
		}
	})
	for i := range times {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, policy := range [][]string{
		{"--keep-last", "5"},
		{"--keep-hourly", "10", "--keep-daily", "7", "--keep-weekly", "5", "--keep-monthly", "12", "--keep-yearly", "3"},
		{"--keep-within", "2m"},
		{"--keep-within", "10m3d4h", "--keep-last", "1"},
		{"--keep-within-hourly", "2d", "--keep-within-daily", "10d", "--keep-within-weekly", "2m", "--keep-within-monthly", "1y"},
		{"--keep-tag", "keep", "--keep-last", "2"},
		{"--keep-daily", "3", "--keep-monthly", "2", "--keep-within-yearly", "2y"},
	} {
		args := append([]string{"forget", "--dry-run", "--json"}, policy...)
		want := forgetKept(t, restic(args...))
		got := forgetKept(t, e.must(append([]string{"-r", repoDir}, args...)...).stdout)
		var diffs []string
		for ts, why := range want {
			if got[ts] != why {
				diffs = append(diffs, fmt.Sprintf("%s: restic %q, arca %q", time.Unix(ts, 0).Local().Format(time.DateTime), why, got[ts]))
			}
		}
		for ts, why := range got {
			if _, ok := want[ts]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: restic removes it, arca keeps it (%q)", time.Unix(ts, 0).Local().Format(time.DateTime), why))
			}
		}
		slices.Sort(diffs)
		if len(diffs) > 0 {
			t.Errorf("%q: %d of %d snapshots decided differently:\n%s", policy, len(diffs), len(times), strings.Join(diffs, "\n"))
		} else {
			t.Logf("%q: both keep %d of %d", policy, len(want), len(times))
		}
	}
}
