package repo_test

import (
	"context"
	"errors"
	"testing"

	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/mem"
	"github.com/arcabackup/arca/repo/repotest"
)

// failIndex fails every save of an index file.
type failIndex struct{ backend.Backend }

var errIndexSave = errors.New("index save refused")

func (f failIndex) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	if h.Type == backend.IndexFile {
		return errIndexSave
	}
	return f.Backend.Save(ctx, h, src)
}

// TestIndexUploadFails: the cache takes a session's index file in while
// it uploads; when the upload fails, the session fails, and the next open
// of the same cache drops what that file listed, so the blobs are stored
// again rather than taken for present.
func TestIndexUploadFails(t *testing.T) {
	be := mem.New()
	repotest.OnBackend(t, be).Close()
	cache := t.TempDir()
	r, err := repo.Open(t.Context(), failIndex{be}, []byte(repotest.Password), repo.OpenOptions{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	w := r.NewWriter(t.Context(), repo.WriterOptions{})
	data := []byte("a blob whose index file never lands")
	id := r.BlobID(data)
	if _, err := w.SaveBlob(pack.DataBlob, id, append([]byte(nil), data...), w.NewCompressor()); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); !errors.Is(err, errIndexSave) {
		t.Fatalf("Flush: %v; want the refused index save", err)
	}
	if _, ok, err := r.Lookup(pack.DataBlob, id); err != nil || !ok {
		t.Fatalf("the cache did not take the index file in during its upload: %v, %v", ok, err)
	}
	w.Close()
	r.Close()

	r2, err := repo.Open(t.Context(), be, []byte(repotest.Password), repo.OpenOptions{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, ok, err := r2.Lookup(pack.DataBlob, id); err != nil || ok {
		t.Fatalf("blob of the failed session: found %v, %v; want it dropped from the cache", ok, err)
	}
	w2 := r2.NewWriter(t.Context(), repo.WriterOptions{})
	defer w2.Close()
	if n, err := w2.SaveBlob(pack.DataBlob, id, append([]byte(nil), data...), w2.NewCompressor()); err != nil || n == 0 {
		t.Fatalf("storing it again: %d bytes, %v; want it stored", n, err)
	}
}
