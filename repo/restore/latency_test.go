package restore_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/backendtest"
	"github.com/arcabackup/arca/repo/backend/limit"
	"github.com/arcabackup/arca/repo/backend/local"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/restore"
)

// remote wraps be as a remote backend is: its calls wait lat, at most 8 at
// once (the default connections).
func remote(be backend.Backend, lat time.Duration) backend.Backend {
	return limit.New(backendtest.Delay{Backend: be, Latency: lat}, limit.Options{Connections: 8})
}

// BenchmarkLatency backs up and restores a generated tree (~25 MB, every
// node type, and 128 MiB in four large files) on a local repository whose every call first waits the
// latency of a distant link, beside the same without delay: the ratio of
// their throughputs shows how well the requests in flight hide latency.
// Each restore starts on a host with a cold cache.
func BenchmarkLatency(b *testing.B) {
	src := filepath.Join(b.TempDir(), "src")
	size := fstest.Generate(b, src, 5)
	for i := range 4 { // and 128 MiB in large files: several packs in flight
		data := make([]byte, 32<<20)
		rand.NewChaCha8([32]byte{byte(i)}).Read(data)
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("large%d", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
		size += int64(len(data))
	}
	for _, lat := range []time.Duration{0, 50 * time.Millisecond} {
		b.Run(fmt.Sprintf("backup/%s", lat), func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				b.StopTimer()
				be, err := local.Create(filepath.Join(b.TempDir(), "repo"))
				if err != nil {
					b.Fatal(err)
				}
				repotest.OnBackend(b, be).Close()
				r := repotest.Open(b, remote(be, lat))
				b.StartTimer()
				if _, err := backup.Run(b.Context(), r, backup.Options{Paths: []string{src}}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("restore/%s", lat), func(b *testing.B) {
			be, err := local.Create(filepath.Join(b.TempDir(), "repo"))
			if err != nil {
				b.Fatal(err)
			}
			sn, err := backup.Run(b.Context(), repotest.OnBackend(b, be), backup.Options{Paths: []string{src}})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			for b.Loop() {
				b.StopTimer()
				r := repotest.Open(b, remote(be, lat))
				target := b.TempDir()
				b.StartTimer()
				if err := restore.Run(b.Context(), r, sn, restore.Options{Target: target}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				r.Close()
				os.RemoveAll(target)
				b.StartTimer()
			}
		})
	}
}
