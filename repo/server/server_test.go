package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/backendtest"
	"github.com/arcabackup/arca/repo/backend/rest"
	"golang.org/x/crypto/bcrypt"
)

// TestConformance: arca's rest: backend on this server keeps the backend
// contract.
func TestConformance(t *testing.T) {
	s, err := New(Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	var n atomic.Int64
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		u, _ := url.Parse(fmt.Sprintf("%s/repo%d/", ts.URL, n.Add(1)))
		b, err := rest.Create(t.Context(), rest.Config{URL: u})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func hash(t *testing.T, pw string) []byte {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type client struct {
	t          *testing.T
	url        string
	user, pass string
}

func (c client) do(method, path string, body []byte) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

func name(data []byte) string { return crypto.Hash(data).String() }

// TestAccess: who may do what.
func TestAccess(t *testing.T) {
	root := t.TempDir()
	s, err := New(Options{Root: root,
		Users:       map[string][]byte{"admin": hash(t, "a"), "robot": hash(t, "r"), "viewer": hash(t, "v"), "other": hash(t, "o")},
		Permissions: map[string]Permission{"admin": Full, "robot": AppendOnly, "viewer": ReadOnly, "other": AppendOnly},
		Default:     ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	admin := client{t, ts.URL, "admin", "a"}
	robot := client{t, ts.URL, "robot", "r"}
	viewer := client{t, ts.URL, "viewer", "v"}
	other := client{t, ts.URL, "other", "o"}
	pack := []byte("pack content")
	snap := []byte("snapshot")
	lock, lock2 := []byte("robot's heartbeat"), []byte("other's heartbeat")
	for _, c := range []struct {
		who          client
		method, path string
		body         []byte
		want         int
	}{
		{client{t, ts.URL, "admin", "wrong"}, "POST", "/r/?create=true", nil, 401},
		{client{t, ts.URL, "", ""}, "GET", "/r/config", nil, 401},
		{client{t, ts.URL, "nobody", "x"}, "GET", "/r/config", nil, 401},
		{viewer, "POST", "/r/?create=true", nil, 403},
		{robot, "POST", "/r/?create=true", nil, 200},
		{robot, "POST", "/r/config", []byte("cfg"), 200},
		{robot, "POST", "/r/config", []byte("cfg2"), 403},
		{viewer, "POST", "/r/data/" + name(pack), pack, 403},
		{robot, "POST", "/r/data/" + name(pack), pack, 200},
		{robot, "POST", "/r/data/" + name(pack), pack, 200}, // the same again: no overwrite, no error
		{robot, "POST", "/r/data/" + name(snap), pack, 400}, // content does not match the name
		{robot, "POST", "/r/data/not-a-hash", pack, 400},
		{robot, "POST", "/r/snapshots/" + name(snap), snap, 200},
		{robot, "POST", "/r/keys/" + name(snap), snap, 403},
		{robot, "POST", "/r/prune/" + name(snap), snap, 403},
		{robot, "POST", "/r/locks/" + name(lock), lock, 200},
		{other, "POST", "/r/locks/" + name(lock2), lock2, 200},
		{viewer, "GET", "/r/data/" + name(pack), nil, 200},
		{viewer, "GET", "/r/data/", nil, 200},
		{robot, "DELETE", "/r/snapshots/" + name(snap), nil, 403},
		{robot, "DELETE", "/r/data/" + name(pack), nil, 403},
		{robot, "DELETE", "/r/locks/" + name(lock2), nil, 403},
		{robot, "DELETE", "/r/locks/" + name(lock), nil, 200},
		{viewer, "DELETE", "/r/locks/" + name(lock2), nil, 403},
		{admin, "DELETE", "/r/snapshots/" + name(snap), nil, 200},
		{admin, "POST", "/r/config", []byte("cfg2"), 200},
		{admin, "GET", "/../etc/passwd", nil, 400},
		{admin, "GET", "/r/.owners/x", nil, 400},
	} {
		if got, msg := c.who.do(c.method, c.path, c.body); got != c.want {
			t.Errorf("%s %s %s: %d %q; want %d", c.who.user, c.method, c.path, got, msg, c.want)
		}
	}
	// A refusal says why.
	if _, msg := robot.do("DELETE", "/r/data/"+name(pack), nil); !strings.Contains(msg, "append-only") || !strings.Contains(msg, "prune need full access") {
		t.Errorf("refusal message %q", msg)
	}
	if _, err := os.Stat(filepath.Join(root, "r", "data", name(pack)[:2], name(pack))); err != nil {
		t.Errorf("the pack was deleted: %v", err)
	}
	// Nothing of a refused or mismatched upload is left.
	if _, err := os.Stat(filepath.Join(root, "r", "data", name(snap)[:2], name(snap))); err == nil {
		t.Error("the upload whose content did not match its name was stored")
	}
}

// TestPrivateRepos: each user reaches only the repositories under /<user>/.
func TestPrivateRepos(t *testing.T) {
	s, _ := New(Options{Root: t.TempDir(), PrivateRepos: true,
		Users: map[string][]byte{"alice": hash(t, "a"), "bob": hash(t, "b")}})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	alice, bob := client{t, ts.URL, "alice", "a"}, client{t, ts.URL, "bob", "b"}
	for _, c := range []struct {
		who          client
		method, path string
		want         int
	}{
		{alice, "POST", "/alice/?create=true", 200},
		{alice, "POST", "/alice/work/?create=true", 200},
		{bob, "GET", "/alice/config", 403},
		{bob, "GET", "/alice/data/", 403},
		{bob, "POST", "/alice/work/?create=true", 403},
		{bob, "POST", "/?create=true", 403},
		{bob, "POST", "/bob/?create=true", 200},
		{bob, "GET", "/alicebob/config", 403},
	} {
		if got, msg := c.who.do(c.method, c.path, nil); got != c.want {
			t.Errorf("%s %s %s: %d %q; want %d", c.who.user, c.method, c.path, got, msg, c.want)
		}
	}
}

func TestUploadLimit(t *testing.T) {
	s, _ := New(Options{Root: t.TempDir(), MaxUpload: 100})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	c := client{t, ts.URL, "", ""}
	c.do("POST", "/r/?create=true", nil)
	big := bytes.Repeat([]byte("x"), 101)
	if got, _ := c.do("POST", "/r/data/"+name(big), big); got != http.StatusRequestEntityTooLarge {
		t.Errorf("upload over the limit: %d; want 413", got)
	}
}

func TestParseHtpasswd(t *testing.T) {
	h := hash(t, "pw")
	users, err := ParseHtpasswd(strings.NewReader("# users\nalice:" + string(h) + "\n\n"))
	if err != nil || len(users) != 1 || !bytes.Equal(users["alice"], h) {
		t.Fatalf("ParseHtpasswd = %v, %v", users, err)
	}
	for _, bad := range []string{"alice", "alice:{SHA}abc", "bob:$apr1$x$y", ":" + string(h)} {
		if _, err := ParseHtpasswd(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		v             string
		off, n        int64
		partial, okay bool
	}{
		{"", 0, 100, false, true},
		{"bytes=0-9", 0, 10, true, true},
		{"bytes=90-", 90, 10, true, true},
		{"bytes=95-200", 95, 5, true, true},
		{"bytes=-10", 90, 10, true, true},
		{"bytes=100-", 0, 0, false, false},
		{"bytes=5-2", 0, 0, false, false},
		{"bytes=0-1,5-6", 0, 0, false, false},
		{"items=0-1", 0, 0, false, false},
	} {
		off, n, partial, ok := parseRange(c.v, 100)
		if off != c.off || n != c.n || partial != c.partial || ok != c.okay {
			t.Errorf("parseRange(%q) = %d, %d, %v, %v; want %d, %d, %v, %v", c.v, off, n, partial, ok, c.off, c.n, c.partial, c.okay)
		}
	}
}
