package transfer_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend/count"
	"github.com/arcabackup/arca/repo/backend/local"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/restore"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/transfer"
)

func snap(t *testing.T, r *repo.Repository, src string) *snapshot.Snapshot {
	t.Helper()
	sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func run(t *testing.T, src, dst *repo.Repository) *transfer.Result {
	t.Helper()
	list, err := snapshot.List(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	res, err := transfer.Run(t.Context(), src, dst, list, transfer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func restoreLatest(t *testing.T, r *repo.Repository, want string) {
	t.Helper()
	list, err := snapshot.List(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := restore.Run(t.Context(), r, list[len(list)-1], restore.Options{Target: target}); err != nil {
		t.Fatal(err)
	}
	fstest.Compare(t, want, filepath.Join(target, want))
}

// TestCopy: snapshots reach a repository with another key whole; a second
// copy skips them; after a change in one directory, the next copy reads
// only that directory's blobs.
func TestCopy(t *testing.T) {
	lb, err := local.Create(filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	counted := count.New(lb)
	src, dst := repotest.OnBackend(t, counted), repotest.New(t)
	tree := t.TempDir()
	fstest.Generate(t, filepath.Join(tree, "a"), 1)
	fstest.Generate(t, filepath.Join(tree, "b"), 2)
	first := snap(t, src, tree)
	before := counted.Counts().ByType["data"]
	res := run(t, src, dst)
	if len(res.Copied) != 1 || res.Copied[0].Source != first.ID || res.BlobsStored == 0 {
		t.Fatalf("first copy: %+v", res)
	}
	// Blobs are read pack by pack, not one request each.
	if reads := counted.Counts().ByType["data"] - before; reads*2 > int64(res.BlobsRead) {
		t.Errorf("first copy: %d requests to data/ for %d blobs read", reads, res.BlobsRead)
	}
	restoreLatest(t, dst, tree)

	res = run(t, src, dst)
	if len(res.Copied) != 0 || res.Skipped != 1 || res.BlobsRead != 0 {
		t.Fatalf("second copy: %+v; want the snapshot skipped, nothing read", res)
	}

	os.WriteFile(filepath.Join(tree, "b", "new-file"), []byte("a change in b"), 0o644)
	second, err := backup.Run(t.Context(), src, backup.Options{Paths: []string{tree}, Hostname: "h", Parent: first})
	if err != nil {
		t.Fatal(err)
	}
	res = run(t, src, dst)
	if len(res.Copied) != 1 || res.Skipped != 1 {
		t.Fatalf("third copy: %+v", res)
	}
	// Only b's files are read again (a's tree is known), and only the new
	// file's blob is stored.
	if res.BlobsStored != 1 {
		t.Errorf("third copy stored %d blobs; want 1", res.BlobsStored)
	}
	restoreLatest(t, dst, tree)
	list, _ := snapshot.List(t.Context(), dst)
	if last := list[len(list)-1]; last.CopiedFrom == nil || *last.CopiedFrom != second.ID || last.Parent == nil || *last.Parent != list[0].ID {
		t.Errorf("the copy of the second snapshot: copied_from %v, parent %v; want its origin and the first copy", last.CopiedFrom, last.Parent)
	}

	// A host with a fresh cache (no tree map) still skips what was copied
	// and copies nothing twice.
	be, err := local.Open(dst.Location())
	if err != nil {
		t.Fatal(err)
	}
	dst2 := repotest.Open(t, be)
	if res := run(t, src, dst2); len(res.Copied) != 0 || res.Skipped != 2 {
		t.Errorf("copy from a fresh cache: %+v", res)
	}
}
