package s3

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/backendtest"
)

func TestParseLocation(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_DEFAULT_REGION": "eu-west-1"}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		loc  string
		want Config
	}{
		{"s3:https://h:9000/b/some/prefix/", Config{Endpoint: "h:9000", Bucket: "b", Prefix: "some/prefix"}},
		{"s3:http://127.0.0.1:7070/b", Config{Endpoint: "127.0.0.1:7070", Insecure: true, Bucket: "b"}},
		{"s3:s3.amazonaws.com/bucket/p", Config{Endpoint: "s3.amazonaws.com", Bucket: "bucket", Prefix: "p"}},
	} {
		c.want.KeyID, c.want.Secret, c.want.Region, c.want.BucketLookup = "id", "secret", "eu-west-1", "auto"
		got, err := ParseLocation(c.loc, getenv)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v", c.loc, got, err, c.want)
		}
	}
	for _, bad := range []string{"s3:", "s3:host", "s3:https://h/", "s3:ftp://h/b", "rest:http://h/"} {
		if _, err := ParseLocation(bad, getenv); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func versity(t *testing.T) (*backendtest.Server, func(prefix string) Config) {
	srv := backendtest.StartVersityGW(t)
	return srv, func(prefix string) Config {
		return Config{Endpoint: srv.Addr, Insecure: true, Bucket: "arca", Prefix: prefix, BucketLookup: "path",
			KeyID: backendtest.S3KeyID, Secret: backendtest.S3Secret, Region: "us-east-1"}
	}
}

// TestVersityGW runs the conformance suite against versitygw.
func TestVersityGW(t *testing.T) {
	_, config := versity(t)
	var n atomic.Int64
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		b, err := Create(t.Context(), config(fmt.Sprintf("repo%d", n.Add(1))))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestWrongSecret(t *testing.T) {
	_, config := versity(t)
	cfg := config("r")
	cfg.Secret = "wrong"
	if _, err := Create(t.Context(), cfg); !errors.Is(err, backend.ErrPermanent) {
		t.Fatalf("Create with a wrong secret: %v; want a permanent error", err)
	}
}

func TestNewBucket(t *testing.T) {
	_, config := versity(t)
	cfg := config("")
	cfg.Bucket = "fresh"
	b, err := Create(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Save(t.Context(), backend.Handle{Type: backend.ConfigFile}, backend.Bytes([]byte("c"))); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(t.Context(), cfg); err == nil {
		t.Fatal("Create over a repository succeeded")
	}
}

// flipTransport flips one byte of the body of every PUT after the client
// computed its checksums, as a faulty link or proxy would.
type flipTransport struct{ flipped atomic.Int64 }

func (f *flipTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.Body != nil && req.ContentLength > 100 {
		data, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		data[len(data)/2] ^= 1
		f.flipped.Add(1)
		req.Body = io.NopCloser(bytes.NewReader(data))
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestCorruptUploadRejected: the server checks each upload against the
// checksum the client computed, so a corrupted upload is refused and
// nothing is stored.
func TestCorruptUploadRejected(t *testing.T) {
	_, config := versity(t)
	cfg := config("corrupt")
	tr := &flipTransport{}
	cfg.Transport = tr
	b, err := Create(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := backend.Handle{Type: backend.PackFile, Name: strings.Repeat("ab", 32)}
	err = b.Save(t.Context(), h, backend.Bytes(bytes.Repeat([]byte("arca"), 1000)))
	if err == nil || tr.flipped.Load() == 0 {
		t.Fatalf("a corrupted upload (%d flipped) was accepted: %v", tr.flipped.Load(), err)
	}
	if _, err := b.Stat(t.Context(), h); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("after a rejected upload: Stat %v; want ErrNotExist", err)
	}
}

// TestMultipart: a file larger than one part goes up in parts and reads
// back whole and in ranges.
func TestMultipart(t *testing.T) {
	_, config := versity(t)
	b, err := Create(t.Context(), config("multi"))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 40<<20)
	for i := range data {
		data[i] = byte(i * 7 >> 12)
	}
	h := backend.Handle{Type: backend.PackFile, Name: strings.Repeat("cd", 32)}
	if err := b.Save(t.Context(), h, backend.Bytes(data)); err != nil {
		t.Fatal(err)
	}
	got, err := backend.ReadAll(t.Context(), b, h)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v); want the %d saved", len(got), err, len(data))
	}
	part := make([]byte, 1<<20)
	if err := backend.ReadAt(t.Context(), b, h, part, 20<<20-5); err != nil || !bytes.Equal(part, data[20<<20-5:21<<20-5]) {
		t.Fatalf("range across parts differs (%v)", err)
	}
}
