package sftp

import (
	"errors"
	"path/filepath"
	"reflect"
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
