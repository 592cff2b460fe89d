// Package rest stores a repository on a server that speaks the REST
// protocol version 2 of restic's rest-server, which `rclone serve restic`
// and `arca serve` speak too (docs/format.md, "REST protocol"). The server
// keeps saves atomic; this client maps the protocol's statuses onto the
// backend contract.
package rest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/arcabackup/arca/repo/backend"
)

// ContentTypeV2 asks a server for version 2 listings (name and size).
const ContentTypeV2 = "application/vnd.x.restic.rest.v2"

// Config says where the server is and how to reach it.
type Config struct {
	// URL of the repository, ending in "/"; its user information, if
	// any, is sent as HTTP basic authentication.
	URL *url.URL
	backend.HTTPOptions
}

// ParseLocation parses "rest:http[s]://[user:pass@]host[:port]/[path]".
// user and pass, when the URL has none, come from getenv's
// ARCA_REST_USERNAME and ARCA_REST_PASSWORD.
func ParseLocation(loc string, getenv func(string) string) (Config, error) {
	s, ok := strings.CutPrefix(loc, "rest:")
	if !ok {
		return Config{}, fmt.Errorf("rest: %q is not a rest: location", loc)
	}
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, fmt.Errorf("rest: location %q: %w", loc, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return Config{}, fmt.Errorf("rest: location %q: want rest:http://host:port/path or rest:https://...", loc)
	}
	if u.User == nil && getenv != nil {
		if user := getenv("ARCA_REST_USERNAME"); user != "" {
			u.User = url.UserPassword(user, getenv("ARCA_REST_PASSWORD"))
		}
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawPath = ""
	return Config{URL: u}, nil
}

// Backend is a repository on a REST server.
type Backend struct {
	base   *url.URL
	client *http.Client
	shown  string // the URL without its password
}

func newBackend(cfg Config) *Backend {
	tr := cfg.RoundTripper()
	base := *cfg.URL
	shown := base
	if shown.User != nil {
		shown.User = url.User(shown.User.Username())
	}
	return &Backend{base: &base, client: &http.Client{Transport: tr}, shown: "rest:" + shown.String()}
}

// Open returns a Backend for the repository at cfg.URL. It asks nothing
// of the server: opening a repository reads its config first.
func Open(cfg Config) *Backend { return newBackend(cfg) }

// Create asks the server to create the repository at cfg.URL (POST
// ?create=true) and returns a Backend for it. It refuses a location that
// holds a config already.
func Create(ctx context.Context, cfg Config) (*Backend, error) {
	b := newBackend(cfg)
	if _, err := b.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); err == nil {
		return nil, fmt.Errorf("rest: %s already holds a repository", b.shown)
	} else if !errors.Is(err, backend.ErrNotExist) {
		return nil, err
	}
	u := *b.base
	u.RawQuery = "create=true"
	resp, err := b.do(ctx, http.MethodPost, &u, nil, -1, nil)
	if err != nil {
		return nil, fmt.Errorf("rest: create %s: %w", b.shown, err)
	}
	resp.Body.Close()
	return b, nil
}

// Location implements backend.Backend.
func (b *Backend) Location() string { return b.shown }

func (b *Backend) url(h backend.Handle) *url.URL {
	// The protocol names files by directory and name; the server keeps
	// data/ in subdirectories.
	p := "config"
	if h.Type != backend.ConfigFile {
		p = h.Type.Dir() + "/" + h.Name
	}
	return b.base.JoinPath(p)
}

func validName(h backend.Handle) error {
	if err := backend.CheckName(h); err != nil {
		return fmt.Errorf("rest: %w", err)
	}
	if strings.ContainsAny(h.Name, "?#%") {
		return fmt.Errorf("rest: invalid file name %q: %w", h.Name, backend.ErrPermanent)
	}
	return nil
}

// statusError maps a response that is not a success onto the backend's
// errors, naming what was asked.
func statusError(what string, resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	text := strings.TrimSpace(string(msg))
	if text != "" {
		text = ": " + text
	}
	err := fmt.Errorf("rest: %s: server answered %s%s", what, resp.Status, text)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w (%w)", err, backend.ErrNotExist)
	case http.StatusRequestedRangeNotSatisfiable:
		return fmt.Errorf("%w (%w)", err, errRange)
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusBadRequest, http.StatusMethodNotAllowed,
		http.StatusLengthRequired, http.StatusRequestEntityTooLarge, http.StatusConflict:
		return fmt.Errorf("%w (%w)", err, backend.ErrPermanent)
	}
	return err
}

// do sends one request and returns a response with a success status; on
// any other status it closes the body and returns statusError.
func (b *Backend) do(ctx context.Context, method string, u *url.URL, body io.Reader, size int64, hdr http.Header) (*http.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%w (%w)", err, backend.ErrPermanent)
	}
	if size >= 0 {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", ContentTypeV2)
	resp, err := b.client.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("%w (%w)", err, cerr)
		}
		var cert *tls.CertificateVerificationError
		if errors.As(err, &cert) {
			return nil, fmt.Errorf("%w (%w)", err, backend.ErrPermanent)
		}
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		what := method + " " + strings.TrimPrefix(u.Path, b.base.Path)
		if what == method+" " {
			what = method + " " + b.shown
		}
		return nil, statusError(what, resp)
	}
	return resp, nil
}

// Save implements backend.Backend.
func (b *Backend) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	if err := validName(h); err != nil {
		return err
	}
	resp, err := b.do(ctx, http.MethodPost, b.url(h), io.NewSectionReader(src, 0, src.Size()), src.Size(), nil)
	if err != nil {
		return fmt.Errorf("rest: save %s: %w", h, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// Load implements backend.Backend.
func (b *Backend) Load(ctx context.Context, h backend.Handle, offset, length int64) (io.ReadCloser, error) {
	if err := validName(h); err != nil {
		return nil, err
	}
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("rest: %s: invalid range %d+%d: %w", h, offset, length, backend.ErrPermanent)
	}
	hdr := http.Header{}
	switch {
	case length > 0:
		hdr.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		hdr.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := b.do(ctx, http.MethodGet, b.url(h), nil, -1, hdr)
	if err != nil {
		if errors.Is(err, errRange) {
			// A range that starts at the very end is an empty read.
			if fi, serr := b.Stat(ctx, h); serr == nil && fi.Size == offset {
				return io.NopCloser(strings.NewReader("")), nil
			}
			return nil, fmt.Errorf("rest: %s: range %d+%d outside the file", h, offset, length)
		}
		return nil, fmt.Errorf("rest: load %s: %w", h, err)
	}
	if resp.StatusCode == http.StatusPartialContent {
		// Some servers answer a range past the end with an empty 206
		// rather than 416; the total in Content-Range tells.
		if total, ok := rangeTotal(resp.Header.Get("Content-Range")); ok && offset > total {
			resp.Body.Close()
			return nil, fmt.Errorf("rest: %s: range %d+%d outside its %d bytes", h, offset, length, total)
		}
	}
	if resp.StatusCode == http.StatusOK && hdr.Get("Range") != "" {
		// The server ignored the range: skip to it.
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("rest: %s: range %d+%d outside the file", h, offset, length)
		}
		if length > 0 {
			return readCloser{io.LimitReader(resp.Body, length), resp.Body}, nil
		}
	}
	return resp.Body, nil
}

// rangeTotal returns the total size of a Content-Range header value
// ("bytes 0-99/1000").
func rangeTotal(v string) (int64, bool) {
	_, total, ok := strings.Cut(v, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(total, 10, 64)
	return n, err == nil
}

// errRange is wrapped by the error of a 416 answer.
var errRange = errors.New("range not satisfiable")

type readCloser struct {
	io.Reader
	io.Closer
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := validName(h); err != nil {
		return backend.FileInfo{}, err
	}
	resp, err := b.do(ctx, http.MethodHead, b.url(h), nil, -1, nil)
	if err != nil {
		return backend.FileInfo{}, fmt.Errorf("rest: stat %s: %w", h, err)
	}
	resp.Body.Close()
	if resp.ContentLength < 0 {
		return backend.FileInfo{}, fmt.Errorf("rest: stat %s: the server gave no size", h)
	}
	fi := backend.FileInfo{Name: h.Name, Size: resp.ContentLength}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		fi.ModTime = t
	}
	return fi, nil
}

// listEntry is one file of a version 2 listing; arca serve adds the time
// the server stored it.
type listEntry struct {
	Name  string    `json:"name"`
	Size  int64     `json:"size"`
	MTime time.Time `json:"mtime"`
}

// List implements backend.Backend. A type directory the server does not
// have is empty if the repository's config is there, an error otherwise.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if t == backend.ConfigFile {
		return backend.ListConfig(ctx, b, fn)
	}
	resp, err := b.do(ctx, http.MethodGet, b.base.JoinPath(t.Dir()+"/"), nil, -1, nil)
	if errors.Is(err, backend.ErrNotExist) {
		if _, serr := b.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); serr == nil {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("rest: list %s: %w", t, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, ContentTypeV2) && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("rest: list %s: the server answered %q, not a version 2 listing", t, ct)
	}
	var entries []listEntry
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("rest: list %s: %w", t, err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(backend.FileInfo{Name: e.Name, Size: e.Size, ModTime: e.MTime}); err != nil {
			return err
		}
	}
	return nil
}

// Remove implements backend.Backend.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	if err := validName(h); err != nil {
		return err
	}
	resp, err := b.do(ctx, http.MethodDelete, b.url(h), nil, -1, nil)
	if err != nil {
		return fmt.Errorf("rest: remove %s: %w", h, err)
	}
	resp.Body.Close()
	return nil
}

// Close implements backend.Backend.
func (b *Backend) Close() error {
	b.client.CloseIdleConnections()
	return nil
}
