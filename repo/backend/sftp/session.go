package sftp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/pkg/sftp"
)

// session is one ssh process and the SFTP client over its pipes.
type session struct {
	c      *sftp.Client
	cmd    *exec.Cmd
	sync   bool          // the server offers fsync@openssh.com
	dead   chan struct{} // closed when the SFTP connection ended
	exited chan struct{} // closed when ssh exited
}

// errClosed is returned by calls after Close.
var errClosed = errors.New("sftp: backend closed")

func dial(cfg Config) (*session, error) {
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
	s := &session{cmd: cmd, dead: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	c, err := sftp.NewClientPipe(rd, wr, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true),
		sftp.MaxConcurrentRequestsPerFile(64))
	if err != nil {
		_ = cmd.Process.Kill()
		<-s.exited
		return nil, fmt.Errorf("sftp: %s: no SFTP session (%w); does `%s` log in?", cfg.Host, err, strings.Join(argv, " "))
	}
	s.c = c
	_, s.sync = c.HasExtension("fsync@openssh.com")
	go func() {
		_ = c.Wait()
		close(s.dead)
	}()
	return s, nil
}

// close ends the session and its ssh.
func (s *session) close() {
	_ = s.c.Close()
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// session returns the live session, starting one if there is none or the
// last one ended.
func (b *Backend) session() (*session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed
	}
	if b.s != nil {
		select {
		case <-b.s.dead:
			b.s.close()
			b.s = nil
		default:
			return b.s, nil
		}
	}
	s, err := dial(b.cfg)
	if err != nil {
		return nil, err
	}
	b.s = s
	return s, nil
}

// begin checks a call on h and returns the session to make it in.
func (b *Backend) begin(ctx context.Context, h backend.Handle) (*session, error) {
	if err := validName(h); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return b.session()
}
