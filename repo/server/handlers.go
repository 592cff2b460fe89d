package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/local"
)

// contentTypeV2 marks version 2 listings.
const contentTypeV2 = "application/vnd.x.restic.rest.v2"

// call is one request being answered.
type call struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	user string
	perm Permission
	req  request
}

func (c *call) refuse(status int, format string, args ...any) {
	c.s.refuse(c.w, c.r, c.user, status, fmt.Sprintf(format, args...))
}

// who names the user in a refusal.
func (c *call) who() string {
	if c.user == "" {
		return "this server's " + c.perm.String() + " access"
	}
	return "user " + c.user + " (" + c.perm.String() + ")"
}

// backendErr answers a failure of the local backend.
func (c *call) backendErr(err error) {
	switch {
	case errors.Is(err, backend.ErrNotExist), errors.Is(err, backend.ErrNoRepository):
		c.refuse(http.StatusNotFound, "not found")
	default:
		c.refuse(http.StatusInternalServerError, "%v", err)
	}
}

// create makes a repository (POST /path/?create=true).
func (c *call) create() {
	if c.r.Method != http.MethodPost || c.r.URL.Query().Get("create") != "true" {
		c.refuse(http.StatusNotFound, "not found")
		return
	}
	if c.perm < AppendOnly {
		c.refuse(http.StatusForbidden, "%s may not create a repository", c.who())
		return
	}
	dir := filepath.Join(c.s.opts.Root, filepath.FromSlash(c.req.repo))
	if _, err := os.Stat(filepath.Join(dir, "config")); err == nil {
		c.refuse(http.StatusForbidden, "a repository exists at /%s", c.req.repo)
		return
	}
	if _, err := local.Create(dir); err != nil {
		c.refuse(http.StatusInternalServerError, "%v", err)
		return
	}
}

// list answers GET /path/TYPE/.
func (c *call) list() {
	if c.r.Method != http.MethodGet {
		c.refuse(http.StatusMethodNotAllowed, "method %s not allowed on a listing", c.r.Method)
		return
	}
	b, err := c.s.backend(c.req.repo)
	if err != nil {
		c.backendErr(err)
		return
	}
	v2 := strings.Contains(c.r.Header.Get("Accept"), contentTypeV2)
	// mtime (whole seconds, as Last-Modified gives them) is arca's
	// addition to version 2 listings; other clients ignore it.
	type entry struct {
		Name  string    `json:"name"`
		Size  int64     `json:"size"`
		MTime time.Time `json:"mtime"`
	}
	entries := []entry{}
	names := []string{}
	err = b.List(c.r.Context(), c.req.h.Type, func(fi backend.FileInfo) error {
		if v2 {
			entries = append(entries, entry{fi.Name, fi.Size, fi.ModTime.UTC().Truncate(time.Second)})
		} else {
			names = append(names, fi.Name)
		}
		return nil
	})
	if err != nil {
		c.backendErr(err)
		return
	}
	if v2 {
		c.w.Header().Set("Content-Type", contentTypeV2)
		json.NewEncoder(c.w).Encode(entries)
		return
	}
	c.w.Header().Set("Content-Type", "application/vnd.x.restic.rest.v1")
	json.NewEncoder(c.w).Encode(names)
}

// file answers HEAD, GET, POST and DELETE of one file.
func (c *call) file() {
	b, err := c.s.backend(c.req.repo)
	if err != nil {
		c.backendErr(err)
		return
	}
	switch c.r.Method {
	case http.MethodHead, http.MethodGet:
		c.get(b)
	case http.MethodPost:
		c.post(b)
	case http.MethodDelete:
		c.remove(b)
	default:
		c.refuse(http.StatusMethodNotAllowed, "method %s not allowed", c.r.Method)
	}
}

func (c *call) get(b *local.Backend) {
	ctx := c.r.Context()
	fi, err := b.Stat(ctx, c.req.h)
	if err != nil {
		c.backendErr(err)
		return
	}
	off, length, partial, ok := parseRange(c.r.Header.Get("Range"), fi.Size)
	if !ok {
		c.w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", fi.Size))
		c.refuse(http.StatusRequestedRangeNotSatisfiable, "range %q outside the file's %d bytes", c.r.Header.Get("Range"), fi.Size)
		return
	}
	hdr := c.w.Header()
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Last-Modified", fi.ModTime.UTC().Format(http.TimeFormat))
	hdr.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+length-1, fi.Size))
		status = http.StatusPartialContent
	}
	if c.r.Method == http.MethodHead {
		c.w.WriteHeader(status)
		return
	}
	rd, err := b.Load(ctx, c.req.h, off, length)
	if err != nil {
		hdr.Del("Content-Length")
		c.backendErr(err)
		return
	}
	defer rd.Close()
	c.w.WriteHeader(status)
	io.CopyN(c.w, rd, length)
}

// parseRange parses a single "bytes=a-b", "bytes=a-" or "bytes=-n" range
// of a file of size bytes. No range is the whole file.
func parseRange(v string, size int64) (off, length int64, partial, ok bool) {
	if v == "" {
		return 0, size, false, true
	}
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false, false
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false, false
		}
		n = min(n, size)
		return size - n, n, true, true
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 || start >= size {
		return 0, 0, false, false
	}
	end := size - 1
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
			return 0, 0, false, false
		}
		end = min(end, size-1)
	}
	return start, end - start + 1, true, true
}

// mayWrite says whether the call's user may store this file, and why not.
func (c *call) mayWrite(exists bool) (bool, string) {
	switch {
	case c.perm >= Full:
		return true, ""
	case c.perm < AppendOnly:
		return false, c.who() + " may not write"
	case c.req.h.Type == backend.ConfigFile && exists:
		return false, c.who() + " may not replace the config"
	case c.req.h.Type == backend.KeyFile, c.req.h.Type == backend.PruneFile:
		return false, c.who() + " may not write " + c.req.h.Type.Dir() + "/ (key management and prune need full access)"
	}
	return true, ""
}

func (c *call) post(b *local.Backend) {
	ctx := c.r.Context()
	_, statErr := b.Stat(ctx, c.req.h)
	exists := statErr == nil
	if ok, why := c.mayWrite(exists); !ok {
		c.refuse(http.StatusForbidden, "%s", why)
		return
	}
	var want crypto.ID
	if c.req.h.Type != backend.ConfigFile {
		id, err := crypto.ParseID(c.req.h.Name)
		if err != nil {
			c.refuse(http.StatusBadRequest, "%s is not named by the hash of a content", c.req.h)
			return
		}
		want = id
		if exists {
			// Names are content hashes: what is there is what is sent.
			io.Copy(io.Discard, io.LimitReader(c.r.Body, c.s.opts.MaxUpload))
			return
		}
	}
	if c.r.ContentLength > c.s.opts.MaxUpload {
		c.refuse(http.StatusRequestEntityTooLarge, "upload of %d bytes; this server takes at most %d", c.r.ContentLength, c.s.opts.MaxUpload)
		return
	}
	body := http.MaxBytesReader(c.w, c.r.Body, c.s.opts.MaxUpload)
	hasher := crypto.NewFileHasher()
	var n int64
	check := func() error {
		if c.r.ContentLength >= 0 && n != c.r.ContentLength {
			return errShort
		}
		if c.req.h.Type != backend.ConfigFile && hasher.Sum() != want {
			return errHash
		}
		return nil
	}
	err := b.SaveReader(ctx, c.req.h, io.TeeReader(countReader{body, &n}, hasher), check)
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		if c.perm == AppendOnly && c.req.h.Type == backend.LockFile && c.user != "" {
			if err := c.s.setOwner(c.req.repo, c.req.h.Name, c.user); err != nil {
				c.refuse(http.StatusInternalServerError, "%v", err)
			}
		}
	case errors.Is(err, errHash):
		c.refuse(http.StatusBadRequest, "the content of %s does not match its name", c.req.h)
	case errors.As(err, &tooBig):
		c.refuse(http.StatusRequestEntityTooLarge, "upload larger than %d bytes", c.s.opts.MaxUpload)
	case errors.Is(err, errShort):
		c.refuse(http.StatusBadRequest, "upload of %s cut short", c.req.h)
	default:
		c.refuse(http.StatusInternalServerError, "%v", err)
	}
}

var (
	errHash  = errors.New("content does not match its name")
	errShort = errors.New("upload cut short")
)

type countReader struct {
	r io.Reader
	n *int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

func (c *call) remove(b *local.Backend) {
	switch {
	case c.perm >= Full:
	case c.perm == AppendOnly && c.req.h.Type == backend.LockFile && c.user != "" && c.s.owner(c.req.repo, c.req.h.Name) == c.user:
	case c.perm == AppendOnly:
		c.refuse(http.StatusForbidden, "%s may not delete %s: append-only access removes only its own heartbeats; forget and prune need full access", c.who(), c.req.h)
		return
	default:
		c.refuse(http.StatusForbidden, "%s may not delete %s", c.who(), c.req.h)
		return
	}
	if err := b.Remove(c.r.Context(), c.req.h); err != nil {
		c.backendErr(err)
		return
	}
	if c.req.h.Type == backend.LockFile {
		c.s.clearOwner(c.req.repo, c.req.h.Name)
	}
}
