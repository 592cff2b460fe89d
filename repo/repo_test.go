package repo_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/local"
	"github.com/arcabackup/arca/repo/backend/mem"
	"github.com/arcabackup/arca/repo/repotest"
)

func saveBlobs(t *testing.T, r *repo.Repository, n, size int) map[crypto.ID][]byte {
	t.Helper()
	datas := make([][]byte, n)
	for i := range datas {
		datas[i] = make([]byte, size)
		rand.Read(datas[i])
	}
	return saveAll(t, r, datas)
}

// saveAll saves datas as data blobs in one write session and returns them
// by ID.
func saveAll(t *testing.T, r *repo.Repository, datas [][]byte) map[crypto.ID][]byte {
	t.Helper()
	w := r.NewWriter(t.Context(), repo.WriterOptions{})
	comp := w.NewCompressor()
	blobs := map[crypto.ID][]byte{}
	for _, data := range datas {
		id := r.BlobID(data)
		blobs[id] = data
		if _, err := w.SaveBlob(pack.DataBlob, id, bytes.Clone(data), comp); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return blobs
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	be := mem.New()
	if _, err := repo.Open(ctx, be, []byte("x"), repo.OpenOptions{}); !errors.Is(err, repo.ErrNoRepository) {
		t.Fatalf("Open of empty backend: err = %v; want ErrNoRepository", err)
	}
	repotest.OnBackend(t, be)
	if _, err := repo.Open(ctx, be, []byte("wrong"), repo.OpenOptions{}); !errors.Is(err, repo.ErrWrongPassword) {
		t.Fatalf("wrong password: err = %v; want ErrWrongPassword", err)
	}
	if _, err := repo.Init(ctx, be, []byte("x"), repo.InitOptions{KDF: repotest.KDF}); err == nil {
		t.Fatal("Init over an existing repository succeeded")
	}
}

func TestKeys(t *testing.T) {
	ctx := t.Context()
	be := mem.New()
	r := repotest.OnBackend(t, be)
	id, err := r.AddKey(ctx, []byte("second"), repotest.KDF, "h", "u")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := repo.Open(ctx, be, []byte("second"), repo.OpenOptions{})
	if err != nil {
		t.Fatalf("open with the added password: %v", err)
	}
	defer r2.Close()
	if r2.Config().ID != r.Config().ID || r2.KeyID() != id {
		t.Fatal("second key opens another repository or key")
	}
	if err := r2.RemoveKey(ctx, id); !errors.Is(err, repo.ErrLastKey) {
		t.Fatalf("removing the key in use: err = %v", err)
	}
	if err := r2.RemoveKey(ctx, r.KeyID()); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Open(ctx, be, []byte(repotest.Password), repo.OpenOptions{}); !errors.Is(err, repo.ErrWrongPassword) {
		t.Fatalf("removed password still opens: %v", err)
	}
	keys, _ := r2.Keys(ctx)
	if len(keys) != 1 || !keys[0].Current {
		t.Fatalf("keys = %+v; want one, current", keys)
	}
	if _, err := r2.ChangePassword(ctx, []byte("third"), repotest.KDF, "h", "u"); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Open(ctx, be, []byte("second"), repo.OpenOptions{}); !errors.Is(err, repo.ErrWrongPassword) {
		t.Fatal("old password still opens after passwd")
	}
	r3, err := repo.Open(ctx, be, []byte("third"), repo.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r3.Close()
}

func TestBlobsSurviveCacheLoss(t *testing.T) {
	ctx := t.Context()
	be := mem.New()
	r := repotest.OnBackend(t, be)
	blobs := saveBlobs(t, r, 50, 10000)
	// A fresh cache (another host, or a deleted cache) sees everything.
	r2 := repotest.Open(t, be)
	for id, data := range blobs {
		got, err := r2.LoadBlob(ctx, pack.DataBlob, id, nil)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("blob %s: %v", id.Short(), err)
		}
	}
	// Deleting the cache directory of an existing cache also works.
	cache := t.TempDir()
	r3, err := repo.Open(ctx, be, []byte(repotest.Password), repo.OpenOptions{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	r3.Close()
	os.RemoveAll(cache)
	r4, err := repo.Open(ctx, be, []byte(repotest.Password), repo.OpenOptions{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer r4.Close()
	for id := range blobs {
		if _, ok, err := r4.Lookup(pack.DataBlob, id); !ok || err != nil {
			t.Fatalf("rebuilt cache lacks blob %s: %v", id.Short(), err)
		}
	}
}

func TestCorruptPackNamed(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "repo")
	be, err := local.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := repotest.OnBackend(t, be)
	blobs := saveBlobs(t, r, 3, 200<<10) // too large for groups: one blob fails
	var packs []string
	filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d os.DirEntry, err error) error {
		if d.Type().IsRegular() {
			packs = append(packs, p)
		}
		return nil
	})
	if len(packs) != 1 {
		t.Fatalf("%d packs; want 1", len(packs))
	}
	data, _ := os.ReadFile(packs[0])
	data[100] ^= 0x01 // inside the first blob
	os.Chmod(packs[0], 0o600)
	if err := os.WriteFile(packs[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(packs[0])
	var failed int
	for id := range blobs {
		_, err := r.LoadBlob(ctx, pack.DataBlob, id, nil)
		if err == nil {
			continue
		}
		failed++
		if !errors.Is(err, repo.ErrCorrupt) || !strings.Contains(err.Error(), name) {
			t.Errorf("err = %v; want ErrCorrupt naming pack %s", err, name)
		}
	}
	if failed != 1 {
		t.Errorf("%d blobs failed; want exactly the damaged one", failed)
	}
}

func TestSyncPacksRecovers(t *testing.T) {
	ctx := t.Context()
	be := mem.New()
	r := repotest.OnBackend(t, be)
	blobs := saveBlobs(t, r, 10, 5000)
	dropIndexFiles(t, be) // the packs are now orphans, as after a session killed before its first checkpoint
	r2 := repotest.Open(t, be)
	for id := range blobs {
		if _, ok, _ := r2.Lookup(pack.DataBlob, id); ok {
			t.Fatalf("cache holds blob %s before recovery", id.Short())
		}
	}
	if err := r2.SyncPacks(ctx); err != nil {
		t.Fatal(err)
	}
	for id, data := range blobs {
		got, err := r2.LoadBlob(ctx, pack.DataBlob, id, nil)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("recovered blob %s: %v", id.Short(), err)
		}
	}
	// A third host sees the recovery's index file.
	r3 := repotest.Open(t, be)
	if n := countFound(r3, blobs); n != len(blobs) {
		t.Fatalf("after recovery another cache sees %d blobs; want %d", n, len(blobs))
	}
}

func TestSessionDedup(t *testing.T) {
	r := repotest.New(t)
	w := r.NewWriter(context.Background(), repo.WriterOptions{})
	comp := w.NewCompressor()
	data := []byte("same content")
	id := r.BlobID(data)
	// A small blob joins a group: before any group is written, its
	// estimate is its plaintext length.
	for i, want := range []int{len(data), 0} {
		stored, err := w.SaveBlob(pack.DataBlob, id, bytes.Clone(data), comp)
		if err != nil || stored != want {
			t.Fatalf("save %d: stored %d bytes, %v; want %d", i, stored, err, want)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w2 := r.NewWriter(context.Background(), repo.WriterOptions{})
	if stored, _ := w2.SaveBlob(pack.DataBlob, id, bytes.Clone(data), comp); stored != 0 {
		t.Fatal("blob stored again in a later session")
	}
	w2.Close()
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"` + strings.Repeat("ab", 32) + `","chunker_polynomial":"3da3358b4dc173","chunk_min":524288,"chunk_avg_bits":20,"chunk_max":8388608,"compression":"auto","pack_size":16777216}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := repo.ParseConfig(b)
		if err == nil && (c.ChunkMax < c.ChunkMin || c.PackSize < 1<<20) {
			t.Fatalf("accepted an invalid config: %+v", c)
		}
	})
}

// FuzzOpenFile decodes sealed files with a fixed key (goldenKey), so
// that the seeds in testdata/fuzz/FuzzOpenFile, sealed with it, reach the
// decoder behind the authentication (flags, decompression).
func FuzzOpenFile(f *testing.F) {
	small, _ := repo.SealFile(goldenKey, crypto.KindSnapshot, []byte(`{"x":1}`))
	large, _ := repo.SealFile(goldenKey, crypto.KindSnapshot, bytes.Repeat([]byte("compressible "), 200))
	f.Add(small)
	f.Add(large)
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, err := repo.OpenFile(goldenKey, crypto.KindSnapshot, b)
		if err != nil && !errors.Is(err, repo.ErrCorrupt) {
			t.Fatalf("error does not wrap ErrCorrupt: %v", err)
		}
		if err == nil {
			again, err := repo.SealFile(goldenKey, crypto.KindSnapshot, plain)
			if out, err2 := repo.OpenFile(goldenKey, crypto.KindSnapshot, again); err != nil || err2 != nil || !bytes.Equal(out, plain) {
				t.Fatalf("re-sealed plaintext does not open to itself: %v, %v", err, err2)
			}
		}
	})
}

func countFound(r *repo.Repository, blobs map[crypto.ID][]byte) int {
	n := 0
	for id := range blobs {
		if _, ok, _ := r.Lookup(pack.DataBlob, id); ok {
			n++
		}
	}
	return n
}

// TestSmallPackHashChecked: recovering a small pack from its header also
// checks it against its name, so damage outside the header is reported;
// its blobs are indexed but not used for deduplication.
func TestSmallPackHashChecked(t *testing.T) {
	ctx := t.Context()
	be := mem.New()
	r := repotest.OnBackend(t, be)
	blobs := saveBlobs(t, r, 3, 1000)
	dropIndexFiles(t, be)
	var packName string
	be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error { packName = fi.Name; return nil })
	h := backend.Handle{Type: backend.PackFile, Name: packName}
	data, _ := backend.ReadAll(ctx, be, h)
	data[10] ^= 1 // in the first blob, not the header
	be.Save(ctx, h, backend.Bytes(data))
	var warned []string
	r2, err := repo.Open(ctx, be, []byte(repotest.Password), repo.OpenOptions{CacheDir: t.TempDir(), Warn: func(m string) { warned = append(warned, m) }})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if err := r2.SyncPacks(ctx); err != nil {
		t.Fatal(err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], packName[:8]) || !strings.Contains(warned[0], "does not match its name") {
		t.Errorf("warnings %q; want one naming the damaged pack", warned)
	}
	if n := countFound(r2, blobs); n != len(blobs) {
		t.Errorf("%d of %d blobs of the damaged pack were indexed", n, len(blobs))
	}
	w := r2.NewWriter(ctx, repo.WriterOptions{})
	defer w.Close()
	for id := range blobs {
		if ok, _ := w.Has(pack.DataBlob, id); ok {
			t.Errorf("blob %s of the damaged pack is used for deduplication", id.Short())
		}
	}
}

// TestCheckpointTimer: a session writes an index file for an uploaded pack
// once the checkpoint interval has passed, though no other upload finishes
// (the interval used to be checked only when an upload finished).
func TestCheckpointTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		be := mem.New()
		if _, err := repo.Init(context.Background(), be, []byte("pw"), repo.InitOptions{KDF: repotest.KDF}); err != nil {
			t.Fatal(err)
		}
		r, err := repo.Open(context.Background(), be, []byte("pw"), repo.OpenOptions{CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		indexFiles := func() int {
			ids, _ := r.ListFiles(context.Background(), backend.IndexFile)
			return len(ids)
		}
		w := r.NewWriter(context.Background(), repo.WriterOptions{CheckpointInterval: 2 * time.Minute, Uploaders: 1})
		comp := w.NewCompressor()
		for w.Stats().Packs == 0 { // fill and upload one pack
			data := make([]byte, 1<<20)
			rand.Read(data)
			if _, err := w.SaveBlob(pack.DataBlob, r.BlobID(data), data, comp); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		before := indexFiles()
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := indexFiles(); n != before {
			t.Fatalf("an index file after 1 minute (%d, before %d)", n, before)
		}
		time.Sleep(90 * time.Second)
		synctest.Wait()
		if n := indexFiles(); n != before+1 {
			t.Errorf("%d index files 2.5 minutes after the upload; want %d", n, before+1)
		}
		w.Close()
	})
}

// dropIndexFiles removes every index file of be.
func dropIndexFiles(t *testing.T, be backend.Backend) {
	t.Helper()
	ids := []string{}
	be.List(t.Context(), backend.IndexFile, func(fi backend.FileInfo) error { ids = append(ids, fi.Name); return nil })
	for _, n := range ids {
		if err := be.Remove(t.Context(), backend.Handle{Type: backend.IndexFile, Name: n}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCollectDroppedPacks: once an index file's packs are gone from the
// repository, the cache marks them dropped; after collectAfter (64) marks,
// SyncIndex removes their copies for good, and what other files list stays.
func TestCollectDroppedPacks(t *testing.T) {
	be := mem.New()
	r := repotest.OnBackend(t, be)
	ctx := t.Context()
	keep := crypto.Hash([]byte("kept blob"))
	keepPack := repo.IndexPack{ID: crypto.Hash([]byte("kept pack")), Size: 200,
		Entries: []pack.Entry{{Type: pack.DataBlob, ID: keep, Length: 100, RawLength: 60}}}
	if _, err := r.SaveIndex(ctx, &repo.IndexFile{Packs: []repo.IndexPack{keepPack}}); err != nil {
		t.Fatal(err)
	}
	var files []crypto.ID
	for i := range 70 {
		blob := crypto.Hash([]byte{byte(i), 1})
		p := repo.IndexPack{ID: crypto.Hash([]byte{byte(i), 2}), Size: 200,
			Entries: []pack.Entry{{Type: pack.DataBlob, ID: blob, Length: 100, RawLength: 60}}}
		id, err := r.SaveIndex(ctx, &repo.IndexFile{Packs: []repo.IndexPack{p}})
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, id)
	}
	for _, id := range files[:63] {
		if err := r.RemoveFile(ctx, backend.IndexFile, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SyncIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := repo.DroppedPacks(r); n != 63 {
		t.Fatalf("%d dropped packs marked; want 63 (below the threshold)", n)
	}
	if _, ok, _ := r.Lookup(pack.DataBlob, crypto.Hash([]byte{0, 1})); ok {
		t.Error("a blob of a dropped pack is still found")
	}
	for _, id := range files[63:66] {
		if err := r.RemoveFile(ctx, backend.IndexFile, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SyncIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := repo.DroppedPacks(r); n != 0 {
		t.Errorf("%d dropped packs still marked after the threshold", n)
	}
	if _, ok, _ := r.Lookup(pack.DataBlob, keep); !ok {
		t.Error("the blob another index file lists was lost")
	}
	if _, ok, _ := r.Lookup(pack.DataBlob, crypto.Hash([]byte{69, 1})); !ok {
		t.Error("a blob of a pack still indexed was lost")
	}
	if _, ok, _ := r.Lookup(pack.DataBlob, crypto.Hash([]byte{64, 1})); ok {
		t.Error("a blob of a dropped pack is found after Collect")
	}
}
