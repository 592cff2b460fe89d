// Package server serves repositories kept in a local directory over the
// REST protocol version 2 of restic's rest-server (docs/format.md), so that
// arca's rest: backend and restic-style tools reach them over HTTP(S). It
// controls who may do what: users from an htpasswd file (bcrypt), each
// read-only, append-only or full; with private repositories each user
// reaches only the repositories under their own name. Every upload is
// streamed to a temporary file, checked against its name (the BLAKE3 of its
// content) and renamed into place; an append-only user never replaces or
// deletes anything but their own heartbeats.
package server

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/local"
)

// Permission is what a user may do.
type Permission int

// Permissions, weakest first.
const (
	ReadOnly   Permission = iota + 1 // read and list
	AppendOnly                       // and add files, and remove their own heartbeats
	Full                             // and remove and replace
)

// ParsePermission parses "read-only", "append-only" or "full".
func ParsePermission(s string) (Permission, error) {
	switch s {
	case "read-only":
		return ReadOnly, nil
	case "append-only":
		return AppendOnly, nil
	case "full":
		return Full, nil
	}
	return 0, fmt.Errorf("server: permission %q; want read-only, append-only or full", s)
}

func (p Permission) String() string {
	switch p {
	case ReadOnly:
		return "read-only"
	case AppendOnly:
		return "append-only"
	case Full:
		return "full"
	}
	return fmt.Sprintf("permission(%d)", int(p))
}

// Options configure a Server.
type Options struct {
	// Root is the directory under which repositories live; a repository
	// at URL path /a/b is the directory Root/a/b.
	Root string
	// Users maps user names to bcrypt hashes (an htpasswd file, see
	// ParseHtpasswd). Nil serves without authentication, every request
	// with Default permission.
	Users map[string][]byte
	// Permissions of named users; others get Default.
	Permissions map[string]Permission
	Default     Permission // 0: Full
	// PrivateRepos: a user reaches only repositories under /<user>/.
	PrivateRepos bool
	// MaxUpload bounds the body of one upload in bytes (0: 1 GiB + 1 MiB).
	MaxUpload int64
	// Log, if not nil, is told of refused requests.
	Log func(msg string)
}

// Server is an http.Handler serving repositories.
type Server struct {
	opts Options
	auth *authCache

	mu    sync.Mutex
	repos map[string]*local.Backend
}

// New returns a Server for opts.
func New(opts Options) (*Server, error) {
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	opts.Root = root
	if opts.Default == 0 {
		opts.Default = Full
	}
	if opts.MaxUpload <= 0 {
		opts.MaxUpload = 1<<30 + 1<<20
	}
	return &Server{opts: opts, auth: newAuthCache(), repos: map[string]*local.Backend{}}, nil
}

// typeOf returns the file type whose directory is dir.
func typeOf(dir string) (backend.FileType, bool) {
	for _, t := range backend.AllTypes {
		if t != backend.ConfigFile && t.Dir() == dir {
			return t, true
		}
	}
	return 0, false
}

// request is a parsed request path.
type request struct {
	repo string // the repository's path below Root, "" for Root itself
	h    backend.Handle
	list bool // a listing of h.Type
	root bool // the repository itself (create)
}

// parsePath splits a URL path into a repository and what in it is asked.
func parsePath(p string) (request, error) {
	trailing := strings.HasSuffix(p, "/")
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.HasPrefix(s, ".") || strings.ContainsAny(s, `\`) {
			return request{}, fmt.Errorf("invalid path %q", p)
		}
	}
	n := len(segs)
	switch {
	case n >= 1 && segs[n-1] == "config" && !trailing:
		return request{repo: strings.Join(segs[:n-1], "/"), h: backend.Handle{Type: backend.ConfigFile}}, nil
	case n >= 1 && trailing && isType(segs[n-1]):
		t, _ := typeOf(segs[n-1])
		return request{repo: strings.Join(segs[:n-1], "/"), h: backend.Handle{Type: t}, list: true}, nil
	case n >= 2 && !trailing && isType(segs[n-2]):
		t, _ := typeOf(segs[n-2])
		return request{repo: strings.Join(segs[:n-2], "/"), h: backend.Handle{Type: t, Name: segs[n-1]}}, nil
	}
	return request{repo: strings.Join(segs, "/"), root: true}, nil
}

func isType(s string) bool { _, ok := typeOf(s); return ok }

// backend returns the repository at path rel, opened once.
func (s *Server) backend(rel string) (*local.Backend, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.repos[rel]; ok {
		return b, nil
	}
	b, err := local.Open(filepath.Join(s.opts.Root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	s.repos[rel] = b
	return b, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, perm, ok := s.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="arca"`)
		s.refuse(w, r, user, http.StatusUnauthorized, "wrong user name or password")
		return
	}
	req, err := parsePath(r.URL.Path)
	if err != nil {
		s.refuse(w, r, user, http.StatusBadRequest, err.Error())
		return
	}
	if s.opts.PrivateRepos && user != "" && req.repo != user && !strings.HasPrefix(req.repo, user+"/") {
		s.refuse(w, r, user, http.StatusForbidden, fmt.Sprintf("private repositories: %s may use only /%s/", user, user))
		return
	}
	c := &call{s: s, w: w, r: r, user: user, perm: perm, req: req}
	switch {
	case req.root:
		c.create()
	case req.list:
		c.list()
	default:
		c.file()
	}
}

// refuse answers a request with an error status and a message that tells
// the client what was refused and why.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, user string, status int, msg string) {
	if s.opts.Log != nil {
		s.opts.Log(fmt.Sprintf("%s %s %s: %d %s", user, r.Method, r.URL.Path, status, msg))
	}
	http.Error(w, msg, status)
}
