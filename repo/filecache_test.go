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

// cachedPacks lists the pack files in the tree cache of r's repository
// under cache.
func cachedPacks(t *testing.T, r *repo.Repository, cache string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(filepath.Join(cache, r.Config().ID.String(), "files", "packs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

// TestTreeCache: trees a host wrote or read once come from the local cache
// afterwards, with no request; the cache holds their pack whole, one file
// for all of them; a damaged cached pack is noticed, dropped and fetched
// from the repository again.
func TestTreeCache(t *testing.T) {
	c := count.New(mem.New())
	repotest.OnBackend(t, c).Close()
	writerCache := t.TempDir()
	w := openWith(t, c, writerCache, 1<<30)
	trees := saveTrees(t, w, 20, 3000)
	w.Close()
	if n := len(cachedPacks(t, w, writerCache)); n != 1 {
		t.Errorf("the writer cached %d files for 20 trees in one pack; want 1", n)
	}

	r := openWith(t, c, writerCache, 1<<30)
	if n := loadTrees(t, r, c, trees); n != 0 {
		t.Errorf("the writer's host loaded %d trees from storage; want none", n)
	}
	r.Close()

	other := t.TempDir()
	r = openWith(t, c, other, 1<<30)
	// The 20 trees share one pack, fetched whole on the first miss.
	if n := loadTrees(t, r, c, trees); n != 1 {
		t.Errorf("another host's first read of 20 trees in one pack made %d loads; want 1", n)
	}
	if n := loadTrees(t, r, c, trees); n != 0 {
		t.Errorf("its second read made %d loads; want none", n)
	}
	r.Close()

	// Damage the cached pack in the middle of its trees: the tree there
	// fails to open, the pack is dropped and fetched again.
	files := cachedPacks(t, r, other)
	if len(files) != 1 {
		t.Fatalf("%d cached packs; want 1", len(files))
	}
	data, _ := os.ReadFile(files[0])
	data[20*3000/2] ^= 1
	os.WriteFile(files[0], data, 0o600)
	r = openWith(t, c, other, 1<<30)
	defer r.Close()
	if n := loadTrees(t, r, c, trees); n != 1 {
		t.Errorf("with the cached pack damaged, %d loads; want the pack fetched once", n)
	}
	if n := loadTrees(t, r, c, trees); n != 0 {
		t.Errorf("after the damaged pack was replaced, %d loads; want none", n)
	}
}

// TestTreeCacheDamagedPack: a tree pack whose stored bytes do not hash to
// its name is not cached; its trees are read one by one (those intact
// still load) and the pack is fetched whole once per run, not per tree.
func TestTreeCacheDamagedPack(t *testing.T) {
	be := mem.New()
	c := count.New(be)
	repotest.OnBackend(t, c).Close()
	w := openWith(t, c, t.TempDir(), 1<<30)
	trees := saveTrees(t, w, 20, 3000)
	w.Close()

	// Flip a byte of the pack's header (past its trees): every tree still
	// opens, the pack no longer matches its name.
	var name string
	be.List(t.Context(), backend.PackFile, func(fi backend.FileInfo) error { name = fi.Name; return nil })
	h := backend.Handle{Type: backend.PackFile, Name: name}
	data, err := backend.ReadAll(t.Context(), be, h)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-40] ^= 1
	be.Remove(t.Context(), h)
	if err := be.Save(t.Context(), h, backend.Bytes(data)); err != nil {
		t.Fatal(err)
	}

	cache := t.TempDir()
	r := openWith(t, c, cache, 1<<30)
	defer r.Close()
	if n := loadTrees(t, r, c, trees); n != 21 {
		t.Errorf("first read of 20 trees of a damaged pack made %d loads; want 21 (the pack once, then each tree)", n)
	}
	if n := loadTrees(t, r, c, trees); n != 20 {
		t.Errorf("second read made %d loads; want 20", n)
	}
	if files := cachedPacks(t, r, cache); len(files) != 0 {
		t.Errorf("the damaged pack was cached: %v", files)
	}
}

// TestTreeCacheLegacy: the per-tree entries an earlier arca cached under
// files/trees are removed when the repository is opened.
func TestTreeCacheLegacy(t *testing.T) {
	be := mem.New()
	r := repotest.OnBackend(t, be)
	id := r.Config().ID.String()
	r.Close()
	cache := t.TempDir()
	old := filepath.Join(cache, id, "files", "trees", "ab")
	if err := os.MkdirAll(old, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(old, "ab01"), []byte("x"), 0o600)
	openWith(t, be, cache, 1<<30).Close()
	if _, err := os.Stat(filepath.Join(cache, id, "files", "trees")); !os.IsNotExist(err) {
		t.Errorf("files/trees after open: %v; want it removed", err)
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
	for range 10 {
		saveTrees(t, r, 10, 4000) // a pack of ~40 KB each, incompressible
	}
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
