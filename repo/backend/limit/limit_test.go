package limit

import (
	"bytes"
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/backendtest"
	"github.com/arcabackup/arca/repo/backend/mem"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return New(mem.New(), Options{Connections: 4, Upload: 1 << 30, Download: 1 << 30})
	})
}

// twice reads its source twice, as an S3 upload with Content-MD5 does.
type twice struct{ backend.Backend }

func (t twice) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	if _, err := backend.ReadSource(src); err != nil {
		return err
	}
	return t.Backend.Save(ctx, h, src)
}

func TestRates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		b := New(twice{mem.New()}, Options{Upload: 1 << 20, Download: 2 << 20})
		data := bytes.Repeat([]byte("x"), 3<<20)
		h := backend.Handle{Type: backend.PackFile, Name: "aa"}
		start := time.Now()
		if err := b.Save(ctx, h, backend.Bytes(data)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 2900*time.Millisecond || d > 3100*time.Millisecond {
			t.Errorf("3 MiB up at 1 MiB/s (read twice) took %s; want 3 s", d)
		}
		start = time.Now()
		rd, err := b.Load(ctx, h, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, rd)
		rd.Close()
		if d := time.Since(start); n != 3<<20 || d < 1400*time.Millisecond || d > 1600*time.Millisecond {
			t.Errorf("3 MiB down at 2 MiB/s took %s (%d bytes); want 1.5 s", d, n)
		}
	})
}

func TestConnections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		m := mem.New()
		h := backend.Handle{Type: backend.PackFile, Name: "bb"}
		m.Save(ctx, h, backend.Bytes([]byte("data")))
		b := New(m, Options{Connections: 2})
		r1, _ := b.Load(ctx, h, 0, 0)
		r2, _ := b.Load(ctx, h, 0, 0)
		done := make(chan struct{})
		go func() {
			if _, err := b.Stat(ctx, h); err != nil {
				t.Error(err)
			}
			close(done)
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("a third call ran while two loads were open")
		default:
		}
		r1.Close()
		<-done
		r2.Close()
	})
}
