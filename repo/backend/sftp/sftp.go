// Package sftp stores a repository in a directory on an SSH server, in the
// layout of a local repository. It talks SFTP (github.com/pkg/sftp) over
// the standard input and output of OpenSSH's ssh client, so that
// ~/.ssh/config, known_hosts and the agent apply as they do to ssh itself;
// -o sftp.command replaces that command. A save writes a temporary file,
// syncs it where the server offers fsync@openssh.com, and renames it into
// place with posix-rename@openssh.com, so a file never appears partial.
package sftp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/pkg/sftp"
)

// Backend is a repository directory on an SFTP server. When the session
// ends (ssh killed, the link reset), the calls under way fail and the next
// call starts a new session, so a retry goes on where the link broke.
type Backend struct {
	cfg   Config
	root  string
	shown string

	mu     sync.Mutex
	s      *session // nil: start one on the next call
	closed bool
}

const tempPrefix = ".tmp-"

func connect(cfg Config) (*Backend, *session, error) {
	shown := "sftp:"
	if cfg.User != "" {
		shown += cfg.User + "@"
	}
	shown += cfg.Host + ":" + cfg.Path
	b := &Backend{cfg: cfg, root: cfg.Path, shown: shown}
	s, err := b.session()
	if err != nil {
		return nil, nil, err
	}
	return b, s, nil
}

// Open connects and returns a Backend for the repository directory, which
// must exist.
func Open(cfg Config) (*Backend, error) {
	b, s, err := connect(cfg)
	if err != nil {
		return nil, err
	}
	fi, err := s.c.Stat(b.root)
	if err != nil || !fi.IsDir() {
		b.Close()
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sftp: %s: %w", b.shown, backend.ErrNoRepository)
		}
		return nil, fmt.Errorf("sftp: %s: %w", b.shown, err)
	}
	return b, nil
}

// Create connects and makes the repository's directories. The directory
// may exist but must not hold a config.
func Create(cfg Config) (*Backend, error) {
	b, s, err := connect(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := s.c.Stat(path.Join(b.root, "config")); err == nil {
		b.Close()
		return nil, fmt.Errorf("sftp: %s already holds a repository", b.shown)
	}
	for _, t := range backend.AllTypes {
		if t == backend.ConfigFile {
			continue
		}
		if err := s.c.MkdirAll(path.Join(b.root, t.Dir())); err != nil {
			b.Close()
			return nil, fmt.Errorf("sftp: create %s: %w", path.Join(b.root, t.Dir()), err)
		}
	}
	return b, nil
}

// Location implements backend.Backend.
func (b *Backend) Location() string { return b.shown }

func (b *Backend) path(h backend.Handle) string { return path.Join(b.root, backend.Path(h)) }

func validName(h backend.Handle) error {
	if err := backend.CheckName(h); err != nil {
		return fmt.Errorf("sftp: %w", err)
	}
	if strings.HasPrefix(h.Name, tempPrefix) {
		return fmt.Errorf("sftp: invalid file name %q: %w", h.Name, backend.ErrPermanent)
	}
	return nil
}

func mapErr(h backend.Handle, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sftp: %s: %w", h, backend.ErrNotExist)
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("sftp: %s: %w (%w)", h, err, backend.ErrPermanent)
	}
	return fmt.Errorf("sftp: %s: %w", h, err)
}

// ctxReader stops a copy when its context ends; Size lets pkg/sftp write
// concurrently.
type ctxReader struct {
	ctx context.Context
	r   *io.SectionReader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (c ctxReader) Size() int64 { return c.r.Size() }

// Save implements backend.Backend.
func (b *Backend) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	s, err := b.begin(ctx, h)
	if err != nil {
		return err
	}
	final := b.path(h)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(path.Dir(final), tempPrefix+hex.EncodeToString(rnd[:]))
	f, err := s.c.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY)
	if errors.Is(err, fs.ErrNotExist) {
		// data/XX/ is made on its first pack; prune/ in a repository
		// made before format version 2.
		if err = s.c.MkdirAll(path.Dir(final)); err == nil {
			f, err = s.c.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY)
		}
	}
	if err != nil {
		return mapErr(h, err)
	}
	_, err = f.ReadFrom(ctxReader{ctx, io.NewSectionReader(src, 0, src.Size())})
	if err == nil && s.sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.c.PosixRename(tmp, final)
	}
	if err != nil {
		_ = s.c.Remove(tmp)
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
		return fmt.Errorf("sftp: save %s: %w", h, err)
	}
	return nil
}

type sectionCloser struct {
	io.Reader
	f *sftp.File
}

func (s sectionCloser) Close() error { return s.f.Close() }

// Load implements backend.Backend.
func (b *Backend) Load(ctx context.Context, h backend.Handle, offset, length int64) (io.ReadCloser, error) {
	s, err := b.begin(ctx, h)
	if err != nil {
		return nil, err
	}
	f, err := s.c.Open(b.path(h))
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
		return nil, fmt.Errorf("sftp: %s: range %d+%d outside its %d bytes", h, offset, length, fi.Size())
	}
	if length == 0 || offset+length > fi.Size() {
		length = fi.Size() - offset
	}
	return sectionCloser{io.NewSectionReader(f, offset, length), f}, nil
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	s, err := b.begin(ctx, h)
	if err != nil {
		return backend.FileInfo{}, err
	}
	fi, err := s.c.Stat(b.path(h))
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
	s, err := b.session()
	if err != nil {
		return err
	}
	dirs := []string{path.Join(b.root, t.Dir())}
	packs := t == backend.PackFile
	if packs {
		subs, err := s.c.ReadDirContext(ctx, dirs[0])
		if err != nil {
			return fmt.Errorf("sftp: list %s: %w", dirs[0], err)
		}
		dirs = dirs[:0]
		for _, s := range subs {
			if s.IsDir() {
				dirs = append(dirs, path.Join(b.root, t.Dir(), s.Name()))
			}
		}
	}
	for _, dir := range dirs {
		entries, err := s.c.ReadDirContext(ctx, dir)
		if errors.Is(err, fs.ErrNotExist) && !packs {
			if _, rerr := s.c.Stat(b.root); rerr == nil {
				continue // a directory of a later format version, not made yet
			}
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			return fmt.Errorf("sftp: list %s: %w", dir, err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if !e.Mode().IsRegular() || strings.HasPrefix(e.Name(), tempPrefix) {
				continue
			}
			if packs && !strings.HasPrefix(e.Name(), path.Base(dir)) {
				continue
			}
			if err := fn(backend.FileInfo{Name: e.Name(), Size: e.Size(), ModTime: e.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove implements backend.Backend.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	s, err := b.begin(ctx, h)
	if err != nil {
		return err
	}
	if err := s.c.Remove(b.path(h)); err != nil {
		return mapErr(h, err)
	}
	return nil
}

// CleanTemp implements backend.TempCleaner: it removes the temporary files
// of saves last changed before cutoff.
func (b *Backend) CleanTemp(ctx context.Context, cutoff time.Time) (int, error) {
	s, err := b.session()
	if err != nil {
		return 0, err
	}
	dirs := []string{b.root}
	for _, t := range backend.AllTypes {
		if t != backend.ConfigFile {
			dirs = append(dirs, path.Join(b.root, t.Dir()))
		}
	}
	if subs, err := s.c.ReadDirContext(ctx, path.Join(b.root, "data")); err == nil {
		for _, s := range subs {
			if s.IsDir() {
				dirs = append(dirs, path.Join(b.root, "data", s.Name()))
			}
		}
	}
	n := 0
	for _, dir := range dirs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		entries, err := s.c.ReadDirContext(ctx, dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.Mode().IsRegular() && strings.HasPrefix(e.Name(), tempPrefix) && e.ModTime().Before(cutoff) &&
				s.c.Remove(path.Join(dir, e.Name())) == nil {
				n++
			}
		}
	}
	return n, nil
}

// Close implements backend.Backend: it ends the SFTP session and ssh.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.s != nil {
		b.s.close()
		b.s = nil
	}
	return nil
}
