// Package rclone reaches every storage rclone supports: it runs `rclone
// serve restic --stdio REMOTE:PATH` and speaks the REST protocol (package
// rest) to it over HTTP/2 on the program's standard input and output.
package rclone

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/rest"
	"golang.org/x/net/http2"
)

// Config says what rclone serves.
type Config struct {
	Remote  string   // REMOTE:PATH, or a local path
	Program string   // the rclone binary (default "rclone")
	Args    []string // extra arguments for rclone
}

// ParseLocation parses "rclone:REMOTE:PATH".
func ParseLocation(loc string) (Config, error) {
	r, ok := strings.CutPrefix(loc, "rclone:")
	if !ok || r == "" {
		return Config{}, fmt.Errorf("rclone: location %q: want rclone:REMOTE:PATH", loc)
	}
	return Config{Remote: r}, nil
}

// Backend is a rest.Backend whose server is an rclone process.
type Backend struct {
	*rest.Backend
	cmd   *exec.Cmd
	conn  *stdioConn
	shown string
	done  chan struct{}
}

// start runs rclone and returns the REST configuration that reaches it.
func start(cfg Config) (*Backend, rest.Config, error) {
	prog := cfg.Program
	if prog == "" {
		prog = "rclone"
	}
	args := append([]string{"serve", "restic", "--stdio"}, cfg.Args...)
	cmd := exec.Command(prog, append(args, cfg.Remote)...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a Ctrl-C for arca does not end it under arca's cleanup
	wr, err := cmd.StdinPipe()
	if err != nil {
		return nil, rest.Config{}, err
	}
	rd, err := cmd.StdoutPipe()
	if err != nil {
		return nil, rest.Config{}, err
	}
	if err := cmd.Start(); err != nil {
		return nil, rest.Config{}, fmt.Errorf("rclone: start %s: %w", prog, err)
	}
	b := &Backend{cmd: cmd, conn: &stdioConn{r: rd, w: wr}, shown: "rclone:" + cfg.Remote, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(b.done)
	}()
	var dialed sync.Once
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var c net.Conn
			dialed.Do(func() { c = b.conn })
			if c == nil {
				return nil, errors.New("rclone: the connection to rclone is gone")
			}
			return c, nil
		},
	}
	u, _ := url.Parse("http://localhost/")
	return b, rest.Config{URL: u, HTTPOptions: backend.HTTPOptions{Transport: tr}}, nil
}

// Open runs rclone for the repository at cfg.Remote.
func Open(cfg Config) (*Backend, error) {
	b, rc, err := start(cfg)
	if err != nil {
		return nil, err
	}
	b.Backend = rest.Open(rc)
	return b, nil
}

// Create runs rclone and creates the repository at cfg.Remote.
func Create(ctx context.Context, cfg Config) (*Backend, error) {
	b, rc, err := start(cfg)
	if err != nil {
		return nil, err
	}
	rb, err := rest.Create(ctx, rc)
	if err != nil {
		b.stop()
		return nil, fmt.Errorf("%s: %w", b.shown, err)
	}
	b.Backend = rb
	return b, nil
}

// Location implements backend.Backend.
func (b *Backend) Location() string { return b.shown }

// Unwrap returns the REST backend.
func (b *Backend) Unwrap() backend.Backend { return b.Backend }

// Close implements backend.Backend: it ends rclone.
func (b *Backend) Close() error {
	if b.Backend != nil {
		b.Backend.Close()
	}
	return b.stop()
}

func (b *Backend) stop() error {
	b.conn.Close() // rclone ends when its input does
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
	return nil
}

// stdioConn is a net.Conn over rclone's standard input and output.
type stdioConn struct {
	r    io.ReadCloser
	w    io.WriteCloser
	once sync.Once
}

func (c *stdioConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *stdioConn) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *stdioConn) Close() error {
	c.once.Do(func() { c.w.Close() })
	return nil
}
func (c *stdioConn) LocalAddr() net.Addr                { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr               { return stdioAddr{} }
func (c *stdioConn) SetDeadline(t time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(t time.Time) error { return nil }

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "rclone" }
