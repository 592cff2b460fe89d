package backendtest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// FaultyProxy is an HTTP proxy in front of a server that fails a share of
// the requests the way a flaky network and an overloaded server do:
// answers 503 without passing the request on, cuts uploads short (reads
// half the body, then drops the connection, so the server never sees the
// request), and cuts downloads half-way (drops the connection in the
// middle of the body). The failures follow a fixed schedule per method, so
// a run with the same requests meets every kind of failure every time.
type FaultyProxy struct {
	Addr                    string
	Refused, CutUp, CutDown atomic.Int64
	Passed                  atomic.Int64
}

// StartFaultyProxy starts a FaultyProxy on a free loopback port in front
// of target ("http://host:port") that fails one request in every: of each
// method's requests, the every-th, 2*every-th, ... fail. A failing upload
// (POST with a body) is cut short; a failing GET is cut half-way or, every
// other time, refused; any other failing request is refused. It stops at
// cleanup.
func StartFaultyProxy(t testing.TB, target string, every int64) *FaultyProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultyProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	seen := map[string]int64{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method]++
		n := seen[r.Method]
		mu.Unlock()
		if n%every != 0 {
			p.Passed.Add(1)
			rp.ServeHTTP(w, r)
			return
		}
		switch {
		case r.Method == http.MethodPost && r.ContentLength > 1:
			p.CutUp.Add(1)
			io.CopyN(io.Discard, r.Body, r.ContentLength/2)
			drop(w)
		case r.Method == http.MethodGet && (n/every)%2 == 1:
			p.CutDown.Add(1)
			rp.ServeHTTP(&cutWriter{ResponseWriter: w}, r)
			drop(w)
		default:
			p.Refused.Add(1)
			http.Error(w, "injected failure", http.StatusServiceUnavailable)
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	p.Addr = l.Addr().String()
	return p
}

// drop closes the connection under w without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// cutWriter passes on the headers and the first half of a body whose
// length the headers give, then swallows the rest.
type cutWriter struct {
	http.ResponseWriter
	left int64
	set  bool
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if !c.set {
		c.set = true
		c.left = 1
		if cl := c.Header().Get("Content-Length"); cl != "" {
			var n int64
			for _, d := range cl {
				n = n*10 + int64(d-'0')
			}
			c.left = n / 2
		}
	}
	k := min(int64(len(p)), c.left)
	if k > 0 {
		c.ResponseWriter.Write(p[:k])
		c.left -= k
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
	}
	return len(p), nil
}

// Hijack lets drop reach the connection under the cut writer.
func (c *cutWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return c.ResponseWriter.(http.Hijacker).Hijack()
}
