package snapshot

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/mem"
	"github.com/arcabackup/arca/repo/repotest"
)

func TestSaveListFind(t *testing.T) {
	ctx := t.Context()
	r := repotest.New(t)
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var saved []*Snapshot
	for i, host := range []string{"a", "b", "a"} {
		sn := &Snapshot{Time: base.Add(time.Duration(i) * time.Hour), Hostname: host, Paths: []string{"/x"},
			Tree: crypto.Hash([]byte{byte(i)}), Tags: []string{"t" + host}}
		if _, err := Save(ctx, r, sn); err != nil {
			t.Fatal(err)
		}
		saved = append(saved, sn)
	}
	list, err := List(ctx, r)
	if err != nil || len(list) != 3 {
		t.Fatalf("List = %d, %v", len(list), err)
	}
	for i := range list {
		if list[i].ID != saved[i].ID {
			t.Fatalf("List order differs at %d", i)
		}
	}
	if sn, _ := Find(list, "latest"); sn.ID != saved[2].ID {
		t.Fatal("latest is not the newest")
	}
	if sn, err := Find(list, saved[1].ID.String()[:10]); err != nil || sn.ID != saved[1].ID {
		t.Fatalf("prefix lookup: %v", err)
	}
	if _, err := Find(list, "zzzz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: err = %v", err)
	}
	if _, err := Find(list, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty: err = %v", err)
	}
	if got := (Filter{Hosts: []string{"a"}}).Select(list); len(got) != 2 {
		t.Fatalf("host filter: %d", len(got))
	}
	if got := (Filter{Tags: [][]string{{"tb"}}}).Select(list); len(got) != 1 || got[0].Hostname != "b" {
		t.Fatalf("tag filter: %v", got)
	}
	if got := (Filter{Paths: []string{"/y"}}).Select(list); len(got) != 0 {
		t.Fatalf("path filter: %v", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"time":"2026-01-01T00:00:00Z","hostname":"h","paths":["/x"],"tree":"` + crypto.Hash(nil).String() + `"}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sn, err := Parse(b)
		if err != nil {
			return
		}
		if sn.Tree.IsNull() {
			t.Fatal("accepted a snapshot without a tree")
		}
		_ = repo.ErrCorrupt
	})
}

// failRemove is a backend whose Remove fails: a kill between saving a
// replacement snapshot file and removing the old one.
type failRemove struct{ backend.Backend }

func (failRemove) Remove(context.Context, backend.Handle) error { return errors.New("killed") }

// TestInterruptedReplace: the pair an interrupted retag leaves is one
// snapshot to readers, and Tidy removes the replaced file.
func TestInterruptedReplace(t *testing.T) {
	be := mem.New()
	r := repotest.OnBackend(t, be)
	sn := &Snapshot{Time: time.Now(), Hostname: "h", Paths: []string{"/x"}, Tree: crypto.Hash([]byte("t"))}
	if _, err := Save(t.Context(), r, sn); err != nil {
		t.Fatal(err)
	}
	first := sn.ID
	killed := repotest.Open(t, failRemove{be})
	sn.Retag(nil, []string{"a"}, nil)
	if err := Replace(t.Context(), killed, sn); err == nil {
		t.Fatal("Replace with a failing Remove succeeded")
	}
	if ids, _ := r.ListFiles(t.Context(), backend.SnapshotFile); len(ids) != 2 {
		t.Fatalf("%d snapshot files; want both left", len(ids))
	}
	list, err := List(t.Context(), r)
	if err != nil || len(list) != 1 || list[0].ID != sn.ID || !slices.Equal(list[0].Tags, []string{"a"}) {
		t.Fatalf("List = %v, %v; want only the retagged snapshot", list, err)
	}
	if found, err := Find(list, first.String()[:8]); err != nil || found.ID != sn.ID {
		t.Errorf("Find(old ID) = %v, %v; want the retagged snapshot", found, err)
	}
	// A second retag of what readers see, then Tidy: one file, both tags.
	sn.Retag(nil, []string{"b"}, nil)
	if err := Replace(t.Context(), r, sn); err != nil {
		t.Fatal(err)
	}
	if err := Tidy(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	ids, _ := r.ListFiles(t.Context(), backend.SnapshotFile)
	list, _ = List(t.Context(), r)
	if len(ids) != 1 || len(list) != 1 || !slices.Equal(list[0].Tags, []string{"a", "b"}) {
		t.Errorf("after Tidy: %d files, %v; want one snapshot tagged a, b", len(ids), list)
	}
}

// TestConcurrentRetags: two hosts that retag one snapshot at once (each
// read it before the other replaced it) both succeed, and every reader then
// sees one snapshot with both changes; Tidy leaves one file. A later
// removal on the merged snapshot is not undone by the siblings.
func TestConcurrentRetags(t *testing.T) {
	r := repotest.OnBackend(t, mem.New())
	ctx := t.Context()
	base := &Snapshot{Time: time.Now(), Hostname: "h", Paths: []string{"/x"}, Tags: []string{"keep", "old"}, Tree: crypto.Hash([]byte("t"))}
	if _, err := Save(ctx, r, base); err != nil {
		t.Fatal(err)
	}
	load := func() *Snapshot {
		list, err := List(ctx, r)
		if err != nil || len(list) != 1 {
			t.Fatalf("List = %v, %v; want one snapshot", list, err)
		}
		return list[0]
	}
	h1, h2 := load(), load()
	h1.Retag(nil, []string{"a"}, nil)
	h2.Retag(nil, []string{"b"}, []string{"old"})
	if err := Replace(ctx, r, h1); err != nil {
		t.Fatal(err)
	}
	if err := Replace(ctx, r, h2); err != nil {
		t.Fatalf("the second host's retag: %v", err)
	}
	merged := load()
	if want := []string{"a", "b", "keep"}; !slices.Equal(merged.Tags, want) {
		t.Fatalf("merged tags %v; want %v", merged.Tags, want)
	}
	if len(merged.Files) != 2 {
		t.Fatalf("merged snapshot from %d files; want 2", len(merged.Files))
	}
	// Retagging the merged snapshot replaces both files.
	merged.Retag(nil, nil, []string{"a"})
	if err := Replace(ctx, r, merged); err != nil {
		t.Fatal(err)
	}
	if got := load(); !slices.Equal(got.Tags, []string{"b", "keep"}) || len(got.Files) != 0 {
		t.Fatalf("after removing a: %v (files %v); want b, keep in one file", got.Tags, got.Files)
	}
	if ids, _ := r.ListFiles(ctx, backend.SnapshotFile); len(ids) != 1 {
		t.Errorf("%d snapshot files; want 1", len(ids))
	}
	// Siblings again, then Tidy merges them into one file; Remove of a
	// merged snapshot removes every file.
	h1, h2 = load(), load()
	h1.Retag(nil, []string{"c"}, nil)
	h2.Retag(nil, []string{"d"}, nil)
	Replace(ctx, r, h1)
	Replace(ctx, r, h2)
	if err := Tidy(ctx, r); err != nil {
		t.Fatal(err)
	}
	if ids, _ := r.ListFiles(ctx, backend.SnapshotFile); len(ids) != 1 {
		t.Errorf("after Tidy: %d snapshot files; want 1", len(ids))
	}
	got := load()
	if !slices.Equal(got.Tags, []string{"b", "c", "d", "keep"}) {
		t.Errorf("after Tidy: tags %v", got.Tags)
	}
	h1, h2 = load(), load()
	h1.Retag(nil, []string{"e"}, nil)
	h2.Retag(nil, []string{"f"}, nil)
	Replace(ctx, r, h1)
	Replace(ctx, r, h2)
	if err := Remove(ctx, r, load()); err != nil {
		t.Fatal(err)
	}
	if list, _ := List(ctx, r); len(list) != 0 {
		t.Errorf("after Remove: %d snapshots left", len(list))
	}
}
