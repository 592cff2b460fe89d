package index

import (
	"testing"

	"github.com/arcabackup/arca/pack"
)

// TestVerified: a tree recorded verified stays verified until something
// can leave the index: packs dropped with their index files, or damage.
func TestVerified(t *testing.T) {
	db, err := OpenDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f1, f2 := testFile(2, 3), testFile(2, 3)
	id1, id2 := randomID(), randomID()
	for id, f := range map[[32]byte]*File{id1: f1, id2: f2} {
		if err := db.AddFile(id, f); err != nil {
			t.Fatal(err)
		}
	}
	tree, other := randomID(), randomID()
	verified := func(want bool) {
		t.Helper()
		if ok, err := db.Verified(tree); err != nil || ok != want {
			t.Fatalf("Verified = %v, %v; want %v", ok, err, want)
		}
	}
	verified(false)
	n, err := db.Removals()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetVerified(tree, n); err != nil {
		t.Fatal(err)
	}
	if err := db.SetVerified(other, n); err != nil {
		t.Fatal(err)
	}
	verified(true)
	if ok, _ := db.Verified(other); !ok {
		t.Fatal("a second tree's record replaced the first's")
	}

	// Adding an index file removes nothing.
	if err := db.AddFile(randomID(), testFile(1, 2)); err != nil {
		t.Fatal(err)
	}
	verified(true)

	// Dropping an index file whose packs no other file lists can remove blobs.
	if err := db.DropFile(id1, false); err != nil {
		t.Fatal(err)
	}
	verified(false)
	n2, _ := db.Removals()
	if n2 != n+1 {
		t.Fatalf("removals %d after a drop, want %d", n2, n+1)
	}
	// A record for an old count is refused.
	if err := db.SetVerified(tree, n); err != nil {
		t.Fatal(err)
	}
	verified(false)
	if err := db.SetVerified(tree, n2); err != nil {
		t.Fatal(err)
	}
	verified(true)

	// Damage counts as a removal.
	p := f2.Packs[0]
	if err := db.MarkDamaged(Damage{Pack: p.ID, Type: pack.DataBlob, Blob: p.Entries[0].ID, Reason: "damaged"}); err != nil {
		t.Fatal(err)
	}
	verified(false)

	// The count survives reopening; a reset forgets every record.
	if err := db.SetVerified(tree, n2+1); err != nil {
		t.Fatal(err)
	}
	verified(true)
	dir := db.Dir()
	db.Close()
	if db, err = OpenDB(dir); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	verified(true)
	if err := db.Reset(); err != nil {
		t.Fatal(err)
	}
	verified(false)
}
