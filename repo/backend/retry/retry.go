// Package retry is a Backend decorator that repeats calls failing with
// transient errors, with exponential backoff and full jitter. It never
// repeats a call that failed because the file does not exist, because the
// backend said the failure is permanent (backend.ErrPermanent: refused
// credentials, denied permission), or because the context ended.
//
// A Load whose reader fails part-way is resumed where it stopped; a List
// is repeated only if it failed before it delivered a file, so no file is
// listed twice, and a listing that fails later is an error, never a short
// listing.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/arcabackup/arca/repo/backend"
)

// Options tune the retries. The zero value is usable.
type Options struct {
	// Attempts is how often a call is tried in all (0: 8).
	Attempts int
	// Base is the first backoff (0: 250 ms); each retry doubles it up to
	// Max (0: 20 s). The wait is drawn uniformly from [0, backoff].
	Base, Max time.Duration
	// Sleep waits d or until ctx ends (nil: a timer); tests inject it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Report, if not nil, is told of each retry.
	Report func(msg string)
}

// Backend retries the calls to the Backend it wraps.
type Backend struct {
	backend.Backend
	opts Options
}

// New wraps be.
func New(be backend.Backend, opts Options) *Backend {
	if opts.Attempts <= 0 {
		opts.Attempts = 8
	}
	if opts.Base <= 0 {
		opts.Base = 250 * time.Millisecond
	}
	if opts.Max <= 0 {
		opts.Max = 20 * time.Second
	}
	if opts.Sleep == nil {
		opts.Sleep = backend.Sleep
	}
	return &Backend{Backend: be, opts: opts}
}

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() backend.Backend { return b.Backend }

// Transient says whether err is worth another try.
func Transient(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil &&
		!errors.Is(err, backend.ErrNotExist) && !errors.Is(err, backend.ErrPermanent) &&
		!errors.Is(err, backend.ErrNoRepository) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded)
}

// do calls fn until it succeeds, fails for good, or the attempts run out.
func (b *Backend) do(ctx context.Context, what string, fn func() error) error {
	backoff := b.opts.Base
	for attempt := 1; ; attempt++ {
		err := fn()
		if cerr := ctx.Err(); err != nil && cerr != nil && !errors.Is(err, cerr) {
			return fmt.Errorf("%w (%w)", err, cerr)
		}
		if !Transient(ctx, err) {
			return err
		}
		if attempt >= b.opts.Attempts {
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		wait := rand.N(backoff + 1)
		if b.opts.Report != nil {
			b.opts.Report(fmt.Sprintf("%s failed (%v); retrying in %s (attempt %d of %d)",
				what, err, wait.Round(time.Millisecond), attempt+1, b.opts.Attempts))
		}
		if serr := b.opts.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w (%w)", err, serr)
		}
		backoff = min(2*backoff, b.opts.Max)
	}
}

// Save implements backend.Backend.
func (b *Backend) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	return b.do(ctx, "save "+h.String(), func() error { return b.Backend.Save(ctx, h, src) })
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (fi backend.FileInfo, err error) {
	err = b.do(ctx, "stat "+h.String(), func() error {
		fi, err = b.Backend.Stat(ctx, h)
		return err
	})
	return fi, err
}

// Remove implements backend.Backend. A retry that finds the file gone
// means an earlier attempt removed it: success.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	tries := 0
	return b.do(ctx, "remove "+h.String(), func() error {
		tries++
		err := b.Backend.Remove(ctx, h)
		if tries > 1 && errors.Is(err, backend.ErrNotExist) {
			return nil
		}
		return err
	})
}

// List implements backend.Backend.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	delivered := false
	var fnErr error
	return b.do(ctx, "list "+t.String(), func() error {
		err := b.Backend.List(ctx, t, func(fi backend.FileInfo) error {
			delivered = true
			if err := fn(fi); err != nil {
				fnErr = err
				return err
			}
			return nil
		})
		if err != nil && (delivered || fnErr != nil) {
			// Files were listed already: repeating would list them twice.
			return fmt.Errorf("%w (%w)", err, backend.ErrPermanent)
		}
		return err
	})
}

// Load implements backend.Backend. The reader it returns resumes after a
// transient read error by loading the rest again.
func (b *Backend) Load(ctx context.Context, h backend.Handle, offset, length int64) (io.ReadCloser, error) {
	var rd io.ReadCloser
	err := b.do(ctx, "load "+h.String(), func() (err error) {
		rd, err = b.Backend.Load(ctx, h, offset, length)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &resumer{b: b, ctx: ctx, h: h, offset: offset, length: length, rd: rd}, nil
}

// resumer reads a loaded range, reloading what is left after a failure.
type resumer struct {
	b              *Backend
	ctx            context.Context
	h              backend.Handle
	offset, length int64 // what is left: length 0 means to the end
	rd             io.ReadCloser
	resumes        int
}

func (r *resumer) Read(p []byte) (int, error) {
	for {
		n, err := r.rd.Read(p)
		r.offset += int64(n)
		if r.length > 0 {
			r.length -= int64(n)
			if r.length == 0 && err == nil {
				err = io.EOF
			}
		}
		if err == nil || err == io.EOF || n > 0 {
			if err != nil && err != io.EOF && n > 0 {
				err = nil // report the failure on the next Read
			}
			return n, err
		}
		if !Transient(r.ctx, err) || r.resumes+1 >= r.b.opts.Attempts {
			return 0, err
		}
		r.resumes++
		r.rd.Close()
		var rd io.ReadCloser
		lerr := r.b.do(r.ctx, "resume load "+r.h.String(), func() (err error) {
			rd, err = r.b.Backend.Load(r.ctx, r.h, r.offset, r.length)
			return err
		})
		if lerr != nil {
			r.rd = io.NopCloser(errReader{err})
			return 0, fmt.Errorf("%w (resuming: %w)", err, lerr)
		}
		r.rd = rd
	}
}

func (r *resumer) Close() error { return r.rd.Close() }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
