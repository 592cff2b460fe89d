package repo_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/mem"
	"github.com/arcabackup/arca/repo/repotest"
)

// failingLocks is a backend whose saves of heartbeats fail while fail is
// set.
type failingLocks struct {
	backend.Backend
	fail atomic.Bool
}

func (f *failingLocks) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	if h.Type == backend.LockFile && f.fail.Load() {
		return errors.New("storage unreachable")
	}
	return f.Backend.Save(ctx, h, src)
}

// openInBubble makes and opens a repository inside a synctest bubble
// (badger's goroutines must live there too).
func openInBubble(t *testing.T, be backend.Backend) *repo.Repository {
	t.Helper()
	if _, err := repo.Init(context.Background(), be, []byte("pw"), repo.InitOptions{KDF: repotest.KDF}); err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(context.Background(), be, []byte("pw"), repo.OpenOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func lockFiles(t *testing.T, r *repo.Repository) int {
	ids, err := r.ListFiles(context.Background(), backend.LockFile)
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

// TestHeartbeatLifecycle: a writer's heartbeat is written at once, replaced
// by a fresh one every interval, and removed when the writer is done.
func TestHeartbeatLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := openInBubble(t, mem.New())
		hb, _, err := r.Announce(context.Background(), repo.AnnounceOptions{Operation: "backup", Hostname: "a"})
		if err != nil {
			t.Fatal(err)
		}
		first := hb.Info()
		time.Sleep(repo.HeartbeatInterval + time.Second)
		synctest.Wait()
		if n := lockFiles(t, r); n != 1 || hb.Info().ID == first.ID || !hb.Info().Time.After(first.Time) {
			t.Errorf("after an interval: %d heartbeat files, refreshed %v; want 1, refreshed", n, hb.Info().ID != first.ID)
		}
		list, _ := r.Heartbeats(context.Background())
		if len(list) != 1 || list[0].Session != first.Session || !list[0].Start.Equal(first.Start) {
			t.Errorf("Heartbeats = %+v; want the one session", list)
		}
		if err := hb.Done(); err != nil {
			t.Fatal(err)
		}
		if n := lockFiles(t, r); n != 0 {
			t.Errorf("%d heartbeat files after Done", n)
		}
	})
}

// TestStaleHeartbeats: a writer that stopped refreshing is stale after
// StaleAfter and then removed by RemoveStaleHeartbeats; a live one is not.
func TestStaleHeartbeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := openInBubble(t, mem.New())
		live, _, err := r.Announce(context.Background(), repo.AnnounceOptions{Operation: "backup", Hostname: "other-host"})
		if err != nil {
			t.Fatal(err)
		}
		defer live.Done()
		// A writer on another host that was killed: its heartbeat stays.
		dead, _, _ := r.Announce(context.Background(), repo.AnnounceOptions{Operation: "tag", Hostname: "gone-host"})
		repo.KillHeartbeat(dead)
		time.Sleep(repo.StaleAfter + time.Minute)
		synctest.Wait()
		removed, err := r.RemoveStaleHeartbeats(context.Background(), "this-host")
		if err != nil {
			t.Fatal(err)
		}
		if len(removed) != 1 || removed[0].Operation != "tag" {
			t.Errorf("removed %+v; want the killed tag's heartbeat", removed)
		}
		list, _ := r.Heartbeats(context.Background())
		if len(list) != 1 || list[0].Operation != "backup" {
			t.Errorf("left %+v; want the live backup's", list)
		}
	})
}

// TestExclusiveWriters: an exclusive writer does not start while another
// writer's heartbeat is fresh, and no writer starts during an exclusive
// one.
func TestExclusiveWriters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := openInBubble(t, mem.New())
		hb, _, err := r.Announce(context.Background(), repo.AnnounceOptions{Operation: "backup", Hostname: "a"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.Announce(context.Background(), repo.AnnounceOptions{Operation: "prune", Exclusive: true, Hostname: "b"}); !errors.Is(err, repo.ErrBusy) {
			t.Errorf("exclusive while a backup runs: %v; want ErrBusy", err)
		}
		hb.Done()
		ex, _, err := r.Announce(context.Background(), repo.AnnounceOptions{Operation: "prune", Exclusive: true, Hostname: "b"})
		if err != nil {
			t.Fatalf("exclusive alone: %v", err)
		}
		if _, _, err := r.Announce(context.Background(), repo.AnnounceOptions{Operation: "backup", Hostname: "a"}); !errors.Is(err, repo.ErrBusy) {
			t.Errorf("a backup during an exclusive prune: %v; want ErrBusy", err)
		}
		ex.Done()
		if n := lockFiles(t, r); n != 0 {
			t.Errorf("%d heartbeat files left by refused writers", n)
		}
	})
}

// TestSilentWriterStops: a writer that cannot refresh its heartbeat stops
// itself (its context ends with ErrSilent) before others could take it
// for gone.
func TestSilentWriterStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		be := &failingLocks{Backend: mem.New()}
		r := openInBubble(t, be)
		hb, ctx, err := r.Announce(context.Background(), repo.AnnounceOptions{Operation: "backup", Hostname: "a"})
		if err != nil {
			t.Fatal(err)
		}
		be.fail.Store(true)
		start := time.Now()
		<-ctx.Done()
		if waited := time.Since(start); !errors.Is(context.Cause(ctx), repo.ErrSilent) || waited >= repo.StaleAfter {
			t.Errorf("stopped after %s with %v; want ErrSilent before %s", waited, context.Cause(ctx), repo.StaleAfter)
		}
		be.fail.Store(false)
		hb.Done()
	})
}
