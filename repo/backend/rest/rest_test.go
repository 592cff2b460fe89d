package rest

import (
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/backendtest"
)

func TestParseLocation(t *testing.T) {
	env := map[string]string{"ARCA_REST_USERNAME": "envuser", "ARCA_REST_PASSWORD": "envpass"}
	for _, c := range []struct{ loc, url, shown string }{
		{"rest:http://h:8000/", "http://envuser:envpass@h:8000/", "rest:http://envuser@h:8000/"},
		{"rest:https://u:p@h/repo", "https://u:p@h/repo/", "rest:https://u@h/repo/"},
		{"rest:http://h:1/a/b/", "http://envuser:envpass@h:1/a/b/", "rest:http://envuser@h:1/a/b/"},
	} {
		cfg, err := ParseLocation(c.loc, func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("%s: %v", c.loc, err)
		}
		if got := cfg.URL.String(); got != c.url {
			t.Errorf("%s: URL %s; want %s", c.loc, got, c.url)
		}
		if got := Open(cfg).Location(); got != c.shown {
			t.Errorf("%s: Location %s; want %s", c.loc, got, c.shown)
		}
	}
	for _, bad := range []string{"rest:ftp://h/", "rest:", "rest:http://", "s3:h/b"} {
		if _, err := ParseLocation(bad, nil); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

// TestRclone runs the conformance suite against `rclone serve restic`.
func TestRclone(t *testing.T) {
	srv := backendtest.StartRclone(t)
	var n atomic.Int64
	backendtest.RunWith(t, backendtest.Options{PartialAbortedSave: true}, func(t *testing.T) backend.Backend {
		u, _ := url.Parse(fmt.Sprintf("http://%s/repo%d/", srv.Addr, n.Add(1)))
		u.User = url.UserPassword(backendtest.RcloneUser, backendtest.RclonePassword)
		b, err := Create(t.Context(), Config{URL: u})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func TestWrongPassword(t *testing.T) {
	srv := backendtest.StartRclone(t)
	u, _ := url.Parse("http://" + srv.Addr + "/r/")
	u.User = url.UserPassword(backendtest.RcloneUser, "wrong")
	_, err := Create(t.Context(), Config{URL: u})
	if !errors.Is(err, backend.ErrPermanent) {
		t.Fatalf("Create with a wrong password: %v; want a permanent error", err)
	}
}
