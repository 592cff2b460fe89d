package restore_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend/local"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/restore"
	"github.com/arcabackup/arca/repo/tree"
)

// TestInterruptWhileNextBatchRuns: batches overlap (the next is written
// while the one before finishes), so when the earlier one is done and the
// journal forgets its files, the later one's must stay listed. Here batch
// one is file a, batch two file b of several blobs; the restore is
// interrupted after b's first blob is written and batch one was finished.
// b's partial file must be in the journal, and the next run resumes it and
// leaves nothing behind.
func TestInterruptWhileNextBatchRuns(t *testing.T) {
	defer restore.SetBatch(1, 1000)()
	r := repotest.New(t)
	src := t.TempDir()
	big := make([]byte, 8<<20) // several chunks of 1 MiB on average
	rand.NewChaCha8([32]byte{5}).Read(big)
	must(t, os.WriteFile(filepath.Join(src, "a"), []byte("first batch"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "b"), big, 0o644))
	sn := snap(t, r, src)

	target := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	opts := restore.Options{Target: target, Root: src}
	finalized := make(chan struct{})
	var once, first sync.Once
	restore.SetBeforeFinalize(&opts, func() { once.Do(func() { close(finalized) }) })
	restore.SetAfterWrite(&opts, func(p string) {
		if filepath.Base(p) != "b" {
			return
		}
		first.Do(func() {
			select {
			case <-finalized: // batch one is done, batch two still runs
			case <-time.After(10 * time.Second):
				t.Error("batch one was not finished while batch two ran")
			}
			cancel()
		})
	})
	if err := restore.Run(ctx, r, sn, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted restore: %v", err)
	}
	tmp := tempFile(t, target)
	listed := false
	for _, p := range tempFiles(t, target) {
		if !strings.HasSuffix(p, ".journal") {
			continue
		}
		b, err := os.ReadFile(p)
		must(t, err)
		entries, err := restore.ParseJournal(b)
		must(t, err)
		for _, e := range entries {
			listed = listed || e.Name == "b" && e.Temp == filepath.Base(tmp)
		}
	}
	if !listed {
		t.Fatalf("the partial file %s is in no journal", tmp)
	}
	if fi, err := os.Stat(tmp); err != nil || fi.Size() == 0 {
		t.Fatalf("partial file %s: %v; want some of b written", tmp, err)
	}

	prog := &restore.Progress{}
	must(t, restore.Run(t.Context(), r, sn, restore.Options{Target: target, Root: src, Progress: prog}))
	got, err := os.ReadFile(filepath.Join(target, "b"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("b after the resumed restore: %d bytes, %v", len(got), err)
	}
	if left := tempFiles(t, target); len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}
	if prog.BytesRead.Load() >= int64(len(big)) {
		t.Errorf("the resumed restore read %d bytes; want less than b's %d (its first blob was kept)", prog.BytesRead.Load(), len(big))
	}
}

// TestDamagedCopyFallsBack: a blob whose first copy fails verification
// while its pack is streamed is loaded from its other copy once the
// stream is closed, and the file is restored whole.
func TestDamagedCopyFallsBack(t *testing.T) {
	be, err := local.Create(filepath.Join(t.TempDir(), "repo"))
	must(t, err)
	r := repotest.OnBackend(t, be)
	src := t.TempDir()
	data := make([]byte, 300<<10) // one blob, not grouped
	rand.NewChaCha8([32]byte{6}).Read(data)
	must(t, os.WriteFile(filepath.Join(src, "f"), data, 0o644))
	sn := snap(t, r, src)
	node, err := tree.Lookup(t.Context(), r, sn.Tree, filepath.Join(src, "f"))
	must(t, err)
	id := node.Content[0]
	first, _, err := r.Lookup(pack.DataBlob, id)
	must(t, err)
	repotest.FlipBlobByte(t, r, pack.DataBlob, id)
	// A restore finds the copy damaged; the next backup stores another.
	if err := restore.Run(t.Context(), r, sn, restore.Options{Target: t.TempDir(), Root: src}); !errors.Is(err, restore.ErrIncomplete) {
		t.Fatalf("restore of the damaged copy: %v", err)
	}
	sn = snap(t, r, src)

	// A host with a fresh cache knows both copies; which it tries first
	// depends on the order its index files loaded in (concurrently), so
	// fresh caches are opened until one tries the damaged copy first.
	var r2 *repo.Repository
	for range 50 {
		r2 = repotest.Open(t, be)
		copies, err := r2.Copies(pack.DataBlob, id)
		must(t, err)
		if len(copies) != 2 {
			t.Fatalf("%d copies of the blob; want 2", len(copies))
		}
		if copies[0].Pack == first.Pack {
			break
		}
		r2.Close()
		r2 = nil
	}
	if r2 == nil {
		t.Fatal("no fresh cache tried the damaged copy first in 50 opens")
	}
	target := t.TempDir()
	must(t, restore.Run(t.Context(), r2, sn, restore.Options{Target: target, Root: src}))
	checkFile(t, filepath.Join(target, "f"), data)
}
