package repo_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/count"
	"github.com/arcabackup/arca/repo/backend/mem"
	"github.com/arcabackup/arca/repo/repotest"
)

func saveTrees(t *testing.T, r *repo.Repository, n, size int) map[crypto.ID][]byte {
	t.Helper()
	w := r.NewWriter(t.Context(), repo.WriterOptions{})
	comp := w.NewCompressor()
	trees := map[crypto.ID][]byte{}
	for range n {
		data := make([]byte, size)
		rand.Read(data)
		id := r.BlobID(data)
		trees[id] = data
		if _, err := w.SaveBlob(pack.TreeBlob, id, bytes.Clone(data), comp); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return trees
}

func openWith(t *testing.T, be backend.Backend, cache string, max int64) *repo.Repository {
	t.Helper()
	r, err := repo.Open(t.Context(), be, []byte(repotest.Password), repo.OpenOptions{CacheDir: cache, FileCacheBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// loadTrees loads every tree and returns the loads that reached storage.
func loadTrees(t *testing.T, r *repo.Repository, c *count.Backend, trees map[crypto.ID][]byte) int64 {
	t.Helper()
	before := c.Counts().Loads
	for id, want := range trees {
		got, err := r.LoadBlob(t.Context(), pack.TreeBlob, id, nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("tree %s: %v", id.Short(), err)
		}
	}
	return c.Counts().Loads - before
}

// TestTreeCache: trees a host wrote or read once come from the local cache
// afterwards, with no request; a damaged cache entry is noticed, dropped
// and read from the repository again.
func TestTreeCache(t *testing.T) {
	c := count.New(mem.New())
	repotest.OnBackend(t, c).Close()
	writerCache := t.TempDir()
	w := openWith(t, c, writerCache, 1<<30)
	trees := saveTrees(t, w, 20, 3000)
	w.Close()

	r := openWith(t, c, writerCache, 1<<30)
	if n := loadTrees(t, r, c, trees); n != 0 {
		t.Errorf("the writer's host loaded %d trees from storage; want none", n)
	}
	r.Close()

	other := t.TempDir()
	r = openWith(t, c, other, 1<<30)
	// The 20 trees share one pack, read whole on the first miss (its
	// blobs and the rest of it, to check the pack against its name).
	if n := loadTrees(t, r, c, trees); n == 0 || n > 2 {
		t.Errorf("another host's first read of 20 trees in one pack made %d loads; want 1 or 2", n)
	}
	if n := loadTrees(t, r, c, trees); n != 0 {
		t.Errorf("its second read made %d loads; want none", n)
	}
	r.Close()

	// Damage one cached entry: it is read from storage and cached anew.
	var files []string
	filepath.WalkDir(filepath.Join(other, r.Config().ID.String(), "files", "trees"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 20 {
		t.Fatalf("%d cached trees; want 20", len(files))
	}
	data, _ := os.ReadFile(files[0])
	data[len(data)/2] ^= 1
	os.WriteFile(files[0], data, 0o600)
	r = openWith(t, c, other, 1<<30)
	defer r.Close()
	if n := loadTrees(t, r, c, trees); n == 0 || n > 2 {
		t.Errorf("with one damaged entry, %d loads; want its pack read once", n)
	}
	if n := loadTrees(t, r, c, trees); n != 0 {
		t.Errorf("after the damaged entry was replaced, %d loads; want none", n)
	}
}

// TestSnapshotFileCache: a snapshot file is loaded from storage once.
func TestSnapshotFileCache(t *testing.T) {
	c := count.New(mem.New())
	repotest.OnBackend(t, c).Close()
	r := openWith(t, c, t.TempDir(), 1<<30)
	defer r.Close()
	id, err := r.SaveFile(t.Context(), backend.SnapshotFile, crypto.KindSnapshot, []byte(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		before := c.Counts().Loads
		got, err := r.LoadFile(t.Context(), backend.SnapshotFile, crypto.KindSnapshot, id)
		if err != nil || string(got) != `{"x":1}` {
			t.Fatalf("load %d: %q, %v", i, got, err)
		}
		if n, want := c.Counts().Loads-before, int64(min(1, 1-i)); n != max(want, 0) {
			t.Errorf("load %d reached storage %d times; want %d", i, n, max(want, 0))
		}
	}
}

// TestFileCacheBound: a run that added entries trims the cache to its
// bound when the repository is closed.
func TestFileCacheBound(t *testing.T) {
	be := mem.New()
	repotest.OnBackend(t, be).Close()
	cache := t.TempDir()
	r := openWith(t, be, cache, 100<<10)
	saveTrees(t, r, 100, 4000) // incompressible: ~400 KB of entries
	r.Close()
	var total int64
	filepath.WalkDir(filepath.Join(cache, r.Config().ID.String(), "files"), func(p string, d os.DirEntry, err error) error {
		if fi, err := d.Info(); err == nil && !d.IsDir() {
			total += fi.Size()
		}
		return nil
	})
	if total == 0 || total > 100<<10 {
		t.Errorf("cache holds %d bytes after Close; want at most %d and some", total, 100<<10)
	}
}
