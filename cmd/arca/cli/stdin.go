package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/snapshot"
)

// stdinFlags are backup's flags for storing a stream.
type stdinFlags struct {
	stdin    bool
	name     string
	fromCmd  bool
	commandv []string
}

// tail keeps the last bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// backupStream runs a stdin or stdin-from-command backup.
func (a *app) backupStream(ctx context.Context, r *repo.Repository, f stdinFlags, opts backup.Options, parentRef string) (*snapshot.Snapshot, error) {
	var err error
	if opts.Parent, err = a.findStreamParent(ctx, r, parentRef, opts.Kind, opts.Hostname, "/"+f.name); err != nil {
		return nil, err
	}
	if !f.fromCmd {
		return backup.RunStdin(ctx, r, a.stdin, f.name, nil, opts)
	}
	if len(f.commandv) == 0 {
		return nil, fmt.Errorf("--stdin-from-command needs a command after --")
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := exec.CommandContext(cctx, f.commandv[0], f.commandv[1:]...)
	c.Env = childEnv(os.Environ())
	errTail := &tail{max: 4096}
	c.Stderr = errTail
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", f.commandv[0], err)
	}
	finish := func() error {
		if err := c.Wait(); err != nil {
			msg := errTail.String()
			if msg == "" {
				return fmt.Errorf("command %s failed: %w; no snapshot saved", f.commandv[0], err)
			}
			return fmt.Errorf("command %s failed: %w; no snapshot saved; its stderr ends with:\n%s", f.commandv[0], err, msg)
		}
		return nil
	}
	sn, err := backup.RunStdin(ctx, r, out, f.name, finish, opts)
	if err != nil {
		cancel()
		io.Copy(io.Discard, out)
		c.Wait()
	}
	return sn, err
}

func (a *app) findStreamParent(ctx context.Context, r *repo.Repository, ref, kind, host, path string) (*snapshot.Snapshot, error) {
	list, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, err
	}
	if ref != "" {
		return snapshot.Find(list, ref)
	}
	return backup.ChooseParent(list, kind, host, []string{path})
}
