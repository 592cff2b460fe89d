// Package mem is an in-memory Backend for tests of the layers above the
// backend.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/arcabackup/arca/repo/backend"
)

// Backend keeps files in a map.
type Backend struct {
	mu    sync.RWMutex
	files map[backend.Handle][]byte
	times map[backend.Handle]time.Time
	// Now is the storage's clock (ModTime); nil means time.Now.
	Now func() time.Time
}

// New returns an empty in-memory backend.
func New() *Backend {
	return &Backend{files: make(map[backend.Handle][]byte), times: make(map[backend.Handle]time.Time)}
}

func (b *Backend) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Location implements backend.Backend.
func (b *Backend) Location() string { return "mem:" }

// Save implements backend.Backend.
func (b *Backend) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := backend.ReadSource(src)
	if err != nil {
		return fmt.Errorf("mem: save %s: %w", h, err)
	}
	b.mu.Lock()
	b.files[h] = data
	b.times[h] = b.now()
	b.mu.Unlock()
	return nil
}

// Load implements backend.Backend.
func (b *Backend) Load(ctx context.Context, h backend.Handle, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.RLock()
	data, ok := b.files[h]
	b.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("mem: %s: %w", h, backend.ErrNotExist)
	}
	if offset < 0 || offset > int64(len(data)) || length < 0 {
		return nil, fmt.Errorf("mem: %s: range %d+%d outside %d bytes", h, offset, length, len(data))
	}
	data = data[offset:]
	if length > 0 && length < int64(len(data)) {
		data = data[:length]
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return backend.FileInfo{}, err
	}
	b.mu.RLock()
	data, ok := b.files[h]
	b.mu.RUnlock()
	if !ok {
		return backend.FileInfo{}, fmt.Errorf("mem: %s: %w", h, backend.ErrNotExist)
	}
	b.mu.RLock()
	mt := b.times[h]
	b.mu.RUnlock()
	return backend.FileInfo{Name: h.Name, Size: int64(len(data)), ModTime: mt}, nil
}

// List implements backend.Backend.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.RLock()
	var infos []backend.FileInfo
	for h, data := range b.files {
		if h.Type == t {
			infos = append(infos, backend.FileInfo{Name: h.Name, Size: int64(len(data)), ModTime: b.times[h]})
		}
	}
	b.mu.RUnlock()
	for _, fi := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}

// Remove implements backend.Backend.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.files[h]; !ok {
		return fmt.Errorf("mem: %s: %w", h, backend.ErrNotExist)
	}
	delete(b.files, h)
	delete(b.times, h)
	return nil
}

// Close implements backend.Backend.
func (b *Backend) Close() error { return nil }
