// Package count is a Backend decorator that counts the requests and bytes
// that reach the backend beneath it, for tests and summaries.
package count

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/arcabackup/arca/repo/backend"
)

// Counts is a snapshot of what a Backend counted.
type Counts struct {
	Saves     int64 `json:"saves"`
	Loads     int64 `json:"loads"`
	Stats     int64 `json:"stats"`
	Lists     int64 `json:"lists"`
	Removes   int64 `json:"removes"`
	BytesUp   int64 `json:"bytes_up"`
	BytesDown int64 `json:"bytes_down"`
	// ByType counts the requests per file type ("data", "index", ...).
	ByType map[string]int64 `json:"-"`
}

// Requests is the number of requests of every kind.
func (c Counts) Requests() int64 { return c.Saves + c.Loads + c.Stats + c.Lists + c.Removes }

// Add returns c plus o.
func (c Counts) Add(o Counts) Counts {
	sum := Counts{c.Saves + o.Saves, c.Loads + o.Loads, c.Stats + o.Stats, c.Lists + o.Lists,
		c.Removes + o.Removes, c.BytesUp + o.BytesUp, c.BytesDown + o.BytesDown, map[string]int64{}}
	for k, v := range c.ByType {
		sum.ByType[k] += v
	}
	for k, v := range o.ByType {
		sum.ByType[k] += v
	}
	return sum
}

// Backend counts what passes through it to the Backend it wraps.
type Backend struct {
	backend.Backend
	saves, loads, stats, lists, removes, up, down atomic.Int64
	byType                                        [16]atomic.Int64
}

// New wraps be.
func New(be backend.Backend) *Backend { return &Backend{Backend: be} }

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() backend.Backend { return b.Backend }

// Counts returns what was counted so far.
func (b *Backend) Counts() Counts {
	c := Counts{Saves: b.saves.Load(), Loads: b.loads.Load(), Stats: b.stats.Load(), Lists: b.lists.Load(),
		Removes: b.removes.Load(), BytesUp: b.up.Load(), BytesDown: b.down.Load(), ByType: map[string]int64{}}
	for _, t := range backend.AllTypes {
		if n := b.byType[t].Load(); n > 0 {
			c.ByType[t.String()] = n
		}
	}
	return c
}

func (b *Backend) note(t backend.FileType) { b.byType[t&15].Add(1) }

// Save implements backend.Backend.
func (b *Backend) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	b.saves.Add(1)
	b.note(h.Type)
	err := b.Backend.Save(ctx, h, src)
	if err == nil {
		b.up.Add(src.Size())
	}
	return err
}

// Load implements backend.Backend.
func (b *Backend) Load(ctx context.Context, h backend.Handle, offset, length int64) (io.ReadCloser, error) {
	b.loads.Add(1)
	b.note(h.Type)
	rd, err := b.Backend.Load(ctx, h, offset, length)
	if err != nil {
		return nil, err
	}
	return &countingReader{rd, &b.down}, nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	b.stats.Add(1)
	b.note(h.Type)
	return b.Backend.Stat(ctx, h)
}

// List implements backend.Backend.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	b.lists.Add(1)
	b.note(t)
	return b.Backend.List(ctx, t, fn)
}

// Remove implements backend.Backend.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	b.removes.Add(1)
	b.note(h.Type)
	return b.Backend.Remove(ctx, h)
}
