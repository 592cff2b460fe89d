// Package local stores a repository in a directory of the local file
// system. Saves go to a temporary file that is synced, renamed into place,
// and followed by a sync of the directory, so an acknowledged file survives
// a crash and a file never appears half-written.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/arcabackup/arca/repo/backend"
)

// Backend is a repository directory.
type Backend struct {
	root    string
	created []string // directories Create made, for RemoveCreated
	// Warn, if not nil, is told about files that do not belong where they
	// are (a pack in the wrong data/ subdirectory); List leaves them out,
	// so that it lists only what Load finds.
	Warn func(msg string)
}

const tempPrefix = ".tmp-"

// Open returns a Backend for the directory root, which must exist.
func Open(root string) (*Backend, error) {
	fi, err := os.Stat(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("local: %s: %w", root, backend.ErrNoRepository)
		}
		return nil, fmt.Errorf("local: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("local: %s is not a directory: %w", root, backend.ErrNoRepository)
	}
	return &Backend{root: root}, nil
}

// Create makes root and the repository's directories (including the 256
// pack subdirectories) and returns a Backend for it. root may exist but
// must not hold a config file.
func Create(root string) (*Backend, error) {
	if _, err := os.Stat(filepath.Join(root, "config")); err == nil {
		return nil, fmt.Errorf("local: %s already holds a repository", root)
	}
	dirs := []string{root}
	for _, t := range backend.AllTypes {
		if t != backend.ConfigFile {
			dirs = append(dirs, filepath.Join(root, t.Dir()))
		}
	}
	for i := range 256 {
		dirs = append(dirs, filepath.Join(root, "data", fmt.Sprintf("%02x", i)))
	}
	b := &Backend{root: root}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			continue
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			b.RemoveCreated()
			return nil, fmt.Errorf("local: create %s: %w", d, err)
		}
		b.created = append(b.created, d)
	}
	return b, nil
}

// RemoveCreated removes the directories Create made that are still empty,
// after an init that failed: a failed init leaves nothing behind.
func (b *Backend) RemoveCreated() {
	for i := len(b.created) - 1; i >= 0; i-- {
		os.Remove(b.created[i]) // fails, harmlessly, on one that is not empty
	}
	b.created = nil
}

// Location implements backend.Backend.
func (b *Backend) Location() string { return b.root }

// CheapList implements backend.CheapLister: listing the packs reads 256
// local directories.
func (b *Backend) CheapList() bool { return true }

// rootExists says whether the repository's directory is there: a missing
// type directory inside it is empty, a missing root is an error.
func (b *Backend) rootExists() bool {
	fi, err := os.Stat(b.root)
	return err == nil && fi.IsDir()
}

func (b *Backend) path(h backend.Handle) string {
	return filepath.Join(b.root, filepath.FromSlash(backend.Path(h)))
}

func validName(h backend.Handle) error {
	if err := backend.CheckName(h); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if strings.HasPrefix(h.Name, tempPrefix) {
		return fmt.Errorf("local: invalid file name %q: %w", h.Name, backend.ErrPermanent)
	}
	return nil
}

// Save implements backend.Backend.
func (b *Backend) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	return b.SaveReader(ctx, h, io.NewSectionReader(src, 0, src.Size()), nil)
}

// SaveReader stores what r yields under h as Save does. check, if not nil,
// runs after r is exhausted and the data is synced, before the file takes
// its name; an error from it (a content hash that does not match the name)
// stores nothing. A server streams uploads through it.
func (b *Backend) SaveReader(ctx context.Context, h backend.Handle, r io.Reader, check func() error) error {
	if err := validName(h); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	final := b.path(h)
	dir := filepath.Dir(final)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, tempPrefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrNotExist) && h.Type != backend.PackFile && b.rootExists() {
		// A directory of a later format version (prune/) in a repository
		// made before it.
		if err = os.Mkdir(dir, 0o700); err == nil || errors.Is(err, fs.ErrExist) {
			f, err = os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		}
	}
	if err != nil {
		return fmt.Errorf("local: save %s: %w", h, err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && check != nil {
		err = check()
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("local: save %s: %w", h, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("local: save %s: sync directory: %w", h, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some file systems do not support syncing directories.
	if errors.Is(err, os.ErrInvalid) {
		return nil
	}
	return err
}

func mapErr(h backend.Handle, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local: %s: %w", h, backend.ErrNotExist)
	}
	return fmt.Errorf("local: %s: %w", h, err)
}

type sectionCloser struct {
	io.Reader
	f *os.File
}

func (s sectionCloser) Close() error { return s.f.Close() }

// Load implements backend.Backend.
func (b *Backend) Load(ctx context.Context, h backend.Handle, offset, length int64) (io.ReadCloser, error) {
	if err := validName(h); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(b.path(h))
	if err != nil {
		return nil, mapErr(h, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, mapErr(h, err)
	}
	if offset < 0 || length < 0 || offset > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("local: %s: range %d+%d outside its %d bytes", h, offset, length, fi.Size())
	}
	if length == 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, mapErr(h, err)
		}
		return f, nil
	}
	return sectionCloser{io.NewSectionReader(f, offset, length), f}, nil
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := validName(h); err != nil {
		return backend.FileInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return backend.FileInfo{}, err
	}
	fi, err := os.Stat(b.path(h))
	if err != nil {
		return backend.FileInfo{}, mapErr(h, err)
	}
	return backend.FileInfo{Name: h.Name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List implements backend.Backend.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t == backend.ConfigFile {
		return backend.ListConfig(ctx, b, fn)
	}
	dirs := []string{filepath.Join(b.root, t.Dir())}
	packs := t == backend.PackFile
	if packs {
		subs, err := os.ReadDir(dirs[0])
		if err != nil {
			return mapErr(backend.Handle{Type: t}, err)
		}
		dirs = dirs[:0]
		for _, s := range subs {
			if s.IsDir() {
				dirs = append(dirs, filepath.Join(b.root, t.Dir(), s.Name()))
			}
		}
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) && !packs && b.rootExists() {
			continue // a directory of a later format version, not made yet
		} else if err != nil {
			return fmt.Errorf("local: list %s: %w", dir, err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), tempPrefix) {
				continue
			}
			if packs && !strings.HasPrefix(e.Name(), filepath.Base(dir)) {
				if b.Warn != nil {
					b.Warn(fmt.Sprintf("%s is not where a pack of that name belongs (data/%s); ignored",
						filepath.Join(dir, e.Name()), e.Name()[:min(2, len(e.Name()))]))
				}
				continue
			}
			info, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed concurrently
			} else if err != nil {
				return fmt.Errorf("local: list %s: %w", dir, err)
			}
			if err := fn(backend.FileInfo{Name: e.Name(), Size: info.Size(), ModTime: info.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove implements backend.Backend.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	if err := validName(h); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(b.path(h)); err != nil {
		return mapErr(h, err)
	}
	return nil
}

// CleanTemp implements backend.TempCleaner: it removes the temporary files
// of saves (".tmp-*") last changed before cutoff.
func (b *Backend) CleanTemp(ctx context.Context, cutoff time.Time) (int, error) {
	dirs := []string{b.root}
	for _, t := range backend.AllTypes {
		if t != backend.ConfigFile {
			dirs = append(dirs, filepath.Join(b.root, t.Dir()))
		}
	}
	for i := range 256 {
		dirs = append(dirs, filepath.Join(b.root, "data", fmt.Sprintf("%02x", i)))
	}
	n := 0
	for _, dir := range dirs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), tempPrefix) {
				continue
			}
			if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) && os.Remove(filepath.Join(dir, e.Name())) == nil {
				n++
			}
		}
	}
	return n, nil
}

// Close implements backend.Backend.
func (b *Backend) Close() error { return nil }
