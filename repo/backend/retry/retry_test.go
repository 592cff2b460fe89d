package retry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/backendtest"
	"github.com/arcabackup/arca/repo/backend/mem"
)

func noSleep(context.Context, time.Duration) error { return nil }

// TestFaulty: over a backend that fails a third of its calls (refused,
// uploads cut short, reads cut half-way, answers lost), the retrying
// backend keeps the whole contract.
func TestFaulty(t *testing.T) {
	seed, injected := uint64(0), int64(0)
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		seed++
		f := backendtest.NewFaulty(mem.New(), 0.3, seed)
		t.Cleanup(func() { injected += f.Injected.Load() })
		return New(f, Options{Attempts: 20, Sleep: noSleep})
	})
	if injected < 20 {
		t.Errorf("%d failures injected; want many", injected)
	}
	t.Logf("%d failures injected", injected)
}

// failing fails every call with err and counts them.
type failing struct {
	backend.Backend
	err   error
	calls int
}

func (f *failing) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	f.calls++
	return backend.FileInfo{}, f.err
}

func TestWhatIsRetried(t *testing.T) {
	for _, c := range []struct {
		err   error
		calls int
	}{
		{errors.New("connection reset"), 8},
		{fmt.Errorf("401: %w", backend.ErrPermanent), 1},
		{fmt.Errorf("gone: %w", backend.ErrNotExist), 1},
		{fmt.Errorf("stop: %w", context.Canceled), 1},
	} {
		f := &failing{Backend: mem.New(), err: c.err}
		var waits []time.Duration
		b := New(f, Options{Base: time.Second, Max: 4 * time.Second, Sleep: func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			return nil
		}})
		_, err := b.Stat(t.Context(), backend.Handle{Type: backend.ConfigFile})
		if !errors.Is(err, c.err) || f.calls != c.calls {
			t.Errorf("%v: %d calls, err %v; want %d calls", c.err, f.calls, err, c.calls)
		}
		for i, w := range waits {
			if limit := min(time.Second<<i, 4*time.Second); w < 0 || w > limit {
				t.Errorf("wait %d: %s; want within [0, %s]", i, w, limit)
			}
		}
	}
}

// TestCancelledWait: a retry waiting for its backoff ends with the context.
func TestCancelledWait(t *testing.T) {
	f := &failing{Backend: mem.New(), err: errors.New("timeout")}
	ctx, cancel := context.WithCancel(t.Context())
	b := New(f, Options{Base: time.Hour, Sleep: func(ctx context.Context, d time.Duration) error {
		cancel()
		return backend.Sleep(ctx, d)
	}})
	if _, err := b.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); !errors.Is(err, context.Canceled) || f.calls != 1 {
		t.Fatalf("%d calls, err %v; want one call and context.Canceled", f.calls, err)
	}
}
