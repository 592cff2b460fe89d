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
	"os/exec"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/pkg/sftp"
)

// Config says where the repository is and how to reach the server.
type Config struct {
	User, Host string
	Port       int    // 0: ssh's default
	Path       string // the repository's directory on the server
	// Command, if not empty, is the command line that speaks SFTP on its
	// standard input and output, in place of ssh.
	Command []string
	// Args are extra arguments for ssh (not used with Command).
	Args []string
}

// ParseLocation parses "sftp:[user@]host:path" and
// "sftp://[user@]host[:port]/path". A path of the first form that is not
// absolute is relative to the login directory.
func ParseLocation(loc string) (Config, error) {
	s, ok := strings.CutPrefix(loc, "sftp:")
	if !ok {
		return Config{}, fmt.Errorf("sftp: %q is not an sftp: location", loc)
	}
	var cfg Config
	if rest, ok := strings.CutPrefix(s, "//"); ok {
		hostport, p, found := strings.Cut(rest, "/")
		if !found || p == "" {
			return Config{}, fmt.Errorf("sftp: location %q: want sftp://[user@]host[:port]/path", loc)
		}
		cfg.Path = "/" + p
		if u, h, ok := strings.Cut(hostport, "@"); ok {
			cfg.User, hostport = u, h
		}
		if h, port, ok := strings.Cut(hostport, ":"); ok {
			n, err := strconv.Atoi(port)
			if err != nil || n <= 0 || n > 65535 {
				return Config{}, fmt.Errorf("sftp: location %q: bad port %q", loc, port)
			}
			cfg.Port, hostport = n, h
		}
		cfg.Host = hostport
	} else {
		hostpart, p, found := strings.Cut(s, ":")
		if !found || p == "" {
			return Config{}, fmt.Errorf("sftp: location %q: want sftp:[user@]host:path", loc)
		}
		if u, h, ok := strings.Cut(hostpart, "@"); ok {
			cfg.User, hostpart = u, h
		}
		cfg.Host, cfg.Path = hostpart, p
	}
	if cfg.Host == "" {
		return Config{}, fmt.Errorf("sftp: location %q names no host", loc)
	}
	cfg.Path = path.Clean(cfg.Path)
	return cfg, nil
}

// command returns the command line that starts the SFTP session.
func (cfg Config) command() []string {
	if len(cfg.Command) > 0 {
		return cfg.Command
	}
	args := []string{"ssh"}
	if cfg.Port != 0 {
		args = append(args, "-p", strconv.Itoa(cfg.Port))
	}
	if cfg.User != "" {
		args = append(args, "-l", cfg.User)
	}
	args = append(args, cfg.Args...)
	return append(args, "-o", "ServerAliveInterval=60", "-o", "ServerAliveCountMax=5", "--", cfg.Host, "-s", "sftp")
}

// Backend is a repository directory on an SFTP server.
type Backend struct {
	c     *sftp.Client
	cmd   *exec.Cmd
	root  string
	shown string
	sync  bool // the server offers fsync@openssh.com
}

const tempPrefix = ".tmp-"

func connect(cfg Config) (*Backend, error) {
	argv := cfg.command()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	// Its own process group: a Ctrl-C meant for arca must not end the
	// session under the cleanup that follows it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	wr, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	rd, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sftp: start %s: %w", argv[0], err)
	}
	c, err := sftp.NewClientPipe(rd, wr, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true),
		sftp.MaxConcurrentRequestsPerFile(64))
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("sftp: %s: no SFTP session (%w); does `%s` log in?", cfg.Host, err, strings.Join(argv, " "))
	}
	shown := "sftp:"
	if cfg.User != "" {
		shown += cfg.User + "@"
	}
	shown += cfg.Host + ":" + cfg.Path
	b := &Backend{c: c, cmd: cmd, root: cfg.Path, shown: shown}
	_, b.sync = c.HasExtension("fsync@openssh.com")
	return b, nil
}

// Open connects and returns a Backend for the repository directory, which
// must exist.
func Open(cfg Config) (*Backend, error) {
	b, err := connect(cfg)
	if err != nil {
		return nil, err
	}
	fi, err := b.c.Stat(b.root)
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
	b, err := connect(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := b.c.Stat(path.Join(b.root, "config")); err == nil {
		b.Close()
		return nil, fmt.Errorf("sftp: %s already holds a repository", b.shown)
	}
	for _, t := range backend.AllTypes {
		if t == backend.ConfigFile {
			continue
		}
		if err := b.c.MkdirAll(path.Join(b.root, t.Dir())); err != nil {
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
	if err := validName(h); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	final := b.path(h)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(path.Dir(final), tempPrefix+hex.EncodeToString(rnd[:]))
	f, err := b.c.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY)
	if errors.Is(err, fs.ErrNotExist) {
		// data/XX/ is made on its first pack; prune/ in a repository
		// made before format version 2.
		if err = b.c.MkdirAll(path.Dir(final)); err == nil {
			f, err = b.c.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY)
		}
	}
	if err != nil {
		return mapErr(h, err)
	}
	_, err = f.ReadFrom(ctxReader{ctx, io.NewSectionReader(src, 0, src.Size())})
	if err == nil && b.sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = b.c.PosixRename(tmp, final)
	}
	if err != nil {
		_ = b.c.Remove(tmp)
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
	if err := validName(h); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := b.c.Open(b.path(h))
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
	if err := validName(h); err != nil {
		return backend.FileInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return backend.FileInfo{}, err
	}
	fi, err := b.c.Stat(b.path(h))
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
	dirs := []string{path.Join(b.root, t.Dir())}
	packs := t == backend.PackFile
	if packs {
		subs, err := b.c.ReadDirContext(ctx, dirs[0])
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
		entries, err := b.c.ReadDirContext(ctx, dir)
		if errors.Is(err, fs.ErrNotExist) && !packs {
			if _, rerr := b.c.Stat(b.root); rerr == nil {
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
	if err := validName(h); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.c.Remove(b.path(h)); err != nil {
		return mapErr(h, err)
	}
	return nil
}

// CleanTemp implements backend.TempCleaner: it removes the temporary files
// of saves last changed before cutoff.
func (b *Backend) CleanTemp(ctx context.Context, cutoff time.Time) (int, error) {
	dirs := []string{b.root}
	for _, t := range backend.AllTypes {
		if t != backend.ConfigFile {
			dirs = append(dirs, path.Join(b.root, t.Dir()))
		}
	}
	if subs, err := b.c.ReadDirContext(ctx, path.Join(b.root, "data")); err == nil {
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
		entries, err := b.c.ReadDirContext(ctx, dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.Mode().IsRegular() && strings.HasPrefix(e.Name(), tempPrefix) && e.ModTime().Before(cutoff) &&
				b.c.Remove(path.Join(dir, e.Name())) == nil {
				n++
			}
		}
	}
	return n, nil
}

// Close implements backend.Backend: it ends the SFTP session and ssh.
func (b *Backend) Close() error {
	err := b.c.Close()
	done := make(chan struct{})
	go func() {
		_ = b.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
	return err
}
