package backup_test

import (
	"sync/atomic"
	"testing"

	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/tree"
)

// TestVerifiedParent: an unchanged re-backup whose parent was made by a
// backup on this cache looks up no blobs of unchanged files; once damage
// is known, the next backup looks them up again and stores the damaged
// file's content anew.
func TestVerifiedParent(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"a": "alpha content", "b": "bravo content", "sub/c": "charlie content"})
	var lookups atomic.Int64
	backup.SetTestHookHaveAll(func() { lookups.Add(1) })
	t.Cleanup(func() { backup.SetTestHookHaveAll(nil) })
	run := func(parent *backup.Options) (*backup.Options, int64) {
		t.Helper()
		opts := backup.Options{Paths: []string{src}}
		if parent != nil {
			opts.Parent = parent.Parent
		}
		lookups.Store(0)
		sn, err := backup.Run(t.Context(), r, opts)
		if err != nil {
			t.Fatal(err)
		}
		return &backup.Options{Parent: sn}, lookups.Load()
	}
	first, _ := run(nil)
	second, n := run(first)
	if n != 0 {
		t.Errorf("unchanged re-backup with a verified parent looked up %d files' blobs; want 0", n)
	}
	if s := second.Parent.Summary; s.FilesUnmodified != 3 {
		t.Fatalf("files unmodified %d, want 3", s.FilesUnmodified)
	}

	// Damage found by a read (a restore, say) counts as a removal.
	node, err := tree.Lookup(t.Context(), r, second.Parent.Tree, src+"/a")
	if err != nil {
		t.Fatal(err)
	}
	repotest.FlipBlobByte(t, r, pack.DataBlob, node.Content[0])
	if _, err := r.LoadBlob(t.Context(), pack.DataBlob, node.Content[0], nil); err == nil {
		t.Fatal("the damaged blob read back")
	}
	third, n := run(second)
	if n != 3 {
		t.Errorf("after damage, looked up %d files' blobs; want 3", n)
	}
	if s := third.Parent.Summary; s.FilesChanged != 1 || s.DataBlobs != 1 {
		t.Errorf("after damage: %d files changed, %d data blobs added; want the damaged file stored again", s.FilesChanged, s.DataBlobs)
	}
}
