package backendtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arcabackup/arca/repo/backend"
)

// ErrInjected is wrapped by the failures Faulty makes up.
var ErrInjected = errors.New("backendtest: injected transient failure")

// Faulty wraps a Backend and makes a share of its calls fail the way a
// flaky network does: calls that fail before they reach the backend,
// uploads cut short half-way (the backend stores nothing, as its contract
// says), loads whose reader fails half-way, and removals whose answer is
// lost. Every failure is
// transient: the same call may well succeed next time.
type Faulty struct {
	backend.Backend
	// Rate is the share of calls that fail (0.1: one in ten); a third of
	// the failing Saves and Loads are cut half-way rather than refused.
	Rate float64

	mu       sync.Mutex
	rnd      *rand.Rand
	Injected atomic.Int64 // failures made so far
}

// NewFaulty wraps be, failing rate of its calls, seeded for repeatable runs.
func NewFaulty(be backend.Backend, rate float64, seed uint64) *Faulty {
	return &Faulty{Backend: be, Rate: rate, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Unwrap returns the wrapped backend.
func (f *Faulty) Unwrap() backend.Backend { return f.Backend }

// roll returns 0 for a call that goes through, 1 for one refused, 2 for
// one cut half-way.
func (f *Faulty) roll() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rnd.Float64() >= f.Rate {
		return 0
	}
	f.Injected.Add(1)
	if f.rnd.IntN(3) == 0 {
		return 2
	}
	return 1
}

func injected(what string) error { return fmt.Errorf("%s: %w", what, ErrInjected) }

// Save implements backend.Backend.
func (f *Faulty) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	switch f.roll() {
	case 1:
		return injected("save " + h.String())
	case 2:
		if err := f.Backend.Save(ctx, h, cutSource{src}); err != nil {
			return fmt.Errorf("%w (%w)", injected("save "+h.String()+" cut short"), err)
		}
		return fmt.Errorf("backendtest: save %s: a source cut short was stored", h)
	}
	return f.Backend.Save(ctx, h, src)
}

// cutSource fails past half of its size.
type cutSource struct{ backend.Source }

func (c cutSource) ReadAt(p []byte, off int64) (int, error) {
	half := c.Size() / 2
	if off+int64(len(p)) > half {
		n := 0
		if off < half {
			n, _ = c.Source.ReadAt(p[:half-off], off)
		}
		return n, injected("upload")
	}
	return c.Source.ReadAt(p, off)
}

// Load implements backend.Backend.
func (f *Faulty) Load(ctx context.Context, h backend.Handle, offset, length int64) (io.ReadCloser, error) {
	r := f.roll()
	if r == 1 {
		return nil, injected("load " + h.String())
	}
	rd, err := f.Backend.Load(ctx, h, offset, length)
	if err != nil || r == 0 {
		return rd, err
	}
	n := length / 2
	if length == 0 {
		n = 512
	}
	return cutReader{io.LimitReader(rd, n), rd}, nil
}

type cutReader struct {
	r io.Reader
	io.Closer
}

func (c cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		return n, injected("download")
	}
	return n, err
}

// Stat implements backend.Backend.
func (f *Faulty) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if f.roll() != 0 {
		return backend.FileInfo{}, injected("stat " + h.String())
	}
	return f.Backend.Stat(ctx, h)
}

// List implements backend.Backend.
func (f *Faulty) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if f.roll() != 0 {
		return injected("list " + t.String())
	}
	return f.Backend.List(ctx, t, fn)
}

// Remove implements backend.Backend. A cut Remove removes the file and
// loses the answer.
func (f *Faulty) Remove(ctx context.Context, h backend.Handle) error {
	switch f.roll() {
	case 1:
		return injected("remove " + h.String())
	case 2:
		if err := f.Backend.Remove(ctx, h); err != nil {
			return err
		}
		return injected("remove " + h.String() + ": answer lost")
	}
	return f.Backend.Remove(ctx, h)
}

// Delay wraps a Backend and makes every call wait Latency before it
// reaches the backend, as a distant link would (a round trip per call).
type Delay struct {
	backend.Backend
	Latency time.Duration
}

// Unwrap returns the wrapped backend.
func (d Delay) Unwrap() backend.Backend { return d.Backend }

func (d Delay) wait(ctx context.Context) error { return backend.Sleep(ctx, d.Latency) }

// Save implements backend.Backend.
func (d Delay) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	if err := d.wait(ctx); err != nil {
		return err
	}
	return d.Backend.Save(ctx, h, src)
}

// Load implements backend.Backend.
func (d Delay) Load(ctx context.Context, h backend.Handle, offset, length int64) (io.ReadCloser, error) {
	if err := d.wait(ctx); err != nil {
		return nil, err
	}
	return d.Backend.Load(ctx, h, offset, length)
}

// Stat implements backend.Backend.
func (d Delay) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := d.wait(ctx); err != nil {
		return backend.FileInfo{}, err
	}
	return d.Backend.Stat(ctx, h)
}

// List implements backend.Backend.
func (d Delay) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if err := d.wait(ctx); err != nil {
		return err
	}
	return d.Backend.List(ctx, t, fn)
}

// Remove implements backend.Backend.
func (d Delay) Remove(ctx context.Context, h backend.Handle) error {
	if err := d.wait(ctx); err != nil {
		return err
	}
	return d.Backend.Remove(ctx, h)
}
