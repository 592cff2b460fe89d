// Package limit is a Backend decorator that bounds the calls in flight
// (connections) and the average upload and download rates.
package limit

import (
	"context"
	"io"
	"sync"

	"github.com/arcabackup/arca/repo/backend"
	"golang.org/x/time/rate"
)

// Options say what to bound; zero values bound nothing.
type Options struct {
	// Connections is the number of calls in flight; a Load holds its slot
	// until its reader is closed. A List takes none: its callback may
	// well load what it lists.
	Connections int
	// Upload and Download are average rates in bytes per second.
	Upload, Download int64
}

// Backend bounds the calls to the Backend it wraps.
type Backend struct {
	backend.Backend
	slots    chan struct{}
	up, down *rate.Limiter
}

// chunk is the most bytes taken from a rate limiter at once (its burst).
const chunk = 64 << 10

// New wraps be; with nothing to bound it returns be itself.
func New(be backend.Backend, opts Options) backend.Backend {
	if opts.Connections <= 0 && opts.Upload <= 0 && opts.Download <= 0 {
		return be
	}
	b := &Backend{Backend: be}
	if opts.Connections > 0 {
		b.slots = make(chan struct{}, opts.Connections)
	}
	if opts.Upload > 0 {
		b.up = rate.NewLimiter(rate.Limit(opts.Upload), chunk)
	}
	if opts.Download > 0 {
		b.down = rate.NewLimiter(rate.Limit(opts.Download), chunk)
	}
	return b
}

// Connections implements backend.Limited (0: calls in flight unbounded).
func (b *Backend) Connections() int { return cap(b.slots) }

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() backend.Backend { return b.Backend }

func (b *Backend) acquire(ctx context.Context) (func(), error) {
	if b.slots == nil {
		return func() {}, nil
	}
	select {
	case b.slots <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-b.slots }) }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Save implements backend.Backend.
func (b *Backend) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	release, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	if b.up != nil {
		src = &slowSource{Source: src, ctx: ctx, lim: b.up}
	}
	return b.Backend.Save(ctx, h, src)
}

// slowSource takes tokens for each byte the first time it is read: a
// backend that reads its source twice (a checksum, then the upload) is
// not charged twice.
type slowSource struct {
	backend.Source
	ctx context.Context
	lim *rate.Limiter

	mu   sync.Mutex
	high int64 // bytes below this were charged
}

func (s *slowSource) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	fresh := max(0, off+int64(len(p))-max(off, s.high))
	s.high = max(s.high, off+int64(len(p)))
	s.mu.Unlock()
	if err := wait(s.ctx, s.lim, fresh); err != nil {
		return 0, err
	}
	return s.Source.ReadAt(p, off)
}

func wait(ctx context.Context, lim *rate.Limiter, n int64) error {
	for n > 0 {
		k := min(n, chunk)
		if err := lim.WaitN(ctx, int(k)); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// Load implements backend.Backend.
func (b *Backend) Load(ctx context.Context, h backend.Handle, offset, length int64) (io.ReadCloser, error) {
	release, err := b.acquire(ctx)
	if err != nil {
		return nil, err
	}
	rd, err := b.Backend.Load(ctx, h, offset, length)
	if err != nil {
		release()
		return nil, err
	}
	return &slowReader{ReadCloser: rd, ctx: ctx, lim: b.down, release: release}, nil
}

type slowReader struct {
	io.ReadCloser
	ctx     context.Context
	lim     *rate.Limiter
	release func()
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.lim != nil && len(p) > chunk {
		p = p[:chunk]
	}
	n, err := s.ReadCloser.Read(p)
	if s.lim != nil && n > 0 {
		if werr := wait(s.ctx, s.lim, int64(n)); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

func (s *slowReader) Close() error {
	err := s.ReadCloser.Close()
	s.release()
	return err
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	release, err := b.acquire(ctx)
	if err != nil {
		return backend.FileInfo{}, err
	}
	defer release()
	return b.Backend.Stat(ctx, h)
}

// Remove implements backend.Backend.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	release, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return b.Backend.Remove(ctx, h)
}
