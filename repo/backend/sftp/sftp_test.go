package sftp

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/backendtest"
)

func TestParseLocation(t *testing.T) {
	for _, c := range []struct {
		loc  string
		want Config
	}{
		{"sftp:user@host:/srv/repo", Config{User: "user", Host: "host", Path: "/srv/repo"}},
		{"sftp:host:repo/", Config{Host: "host", Path: "repo"}},
		{"sftp://u@h:2222/srv/r", Config{User: "u", Host: "h", Port: 2222, Path: "/srv/r"}},
		{"sftp://h/r", Config{Host: "h", Path: "/r"}},
	} {
		got, err := ParseLocation(c.loc)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v", c.loc, got, err, c.want)
		}
	}
	for _, bad := range []string{"sftp:host", "sftp://h", "sftp://h:x/r", "sftp::/r", "rest:http://h/"} {
		if _, err := ParseLocation(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestSSHD runs the conformance suite against OpenSSH's sshd.
func TestSSHD(t *testing.T) {
	srv := backendtest.StartSSHD(t)
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		b, err := Create(Config{Host: "127.0.0.1", Path: filepath.Join(t.TempDir(), "repo"), Command: srv.Command()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func TestOpenMissing(t *testing.T) {
	srv := backendtest.StartSSHD(t)
	_, err := Open(Config{Host: "127.0.0.1", Path: filepath.Join(t.TempDir(), "none"), Command: srv.Command()})
	if !errors.Is(err, backend.ErrNoRepository) {
		t.Fatalf("Open of a missing directory: %v; want ErrNoRepository", err)
	}
}

// TestReconnect: after ssh dies, the calls under way fail and the next one
// starts a new session.
func TestReconnect(t *testing.T) {
	srv := backendtest.StartSSHD(t)
	b, err := Create(Config{Host: "127.0.0.1", Path: filepath.Join(t.TempDir(), "repo"), Command: srv.Command()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := backend.Handle{Type: backend.SnapshotFile, Name: strings.Repeat("ab", 32)}
	if err := b.Save(t.Context(), h, backend.Bytes([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	first := b.s.cmd.Process.Pid
	b.s.cmd.Process.Kill()
	<-b.s.dead
	if _, err := b.Stat(t.Context(), h); err != nil {
		t.Fatalf("Stat after ssh died: %v; want a new session", err)
	}
	if b.s.cmd.Process.Pid == first {
		t.Error("the dead session is still in use")
	}
}
