package index

import (
	"sync"
	"testing"

	"github.com/arcabackup/arca/pack"
)

// TestLookupSeesWrites: lookups share read transactions, and a lookup that
// begins after a write has returned sees it, from every pooled transaction.
func TestLookupSeesWrites(t *testing.T) {
	db, err := OpenDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := testFile(1, 3)
	e := f.Packs[0].Entries[0]
	lookupAll := func(want bool) {
		t.Helper()
		// As many lookups at once as the pool holds transactions, so
		// that each of them is used.
		var wg sync.WaitGroup
		for range 2 * cap(db.readers.pool) {
			wg.Go(func() {
				if _, ok, err := db.Lookup(e.Type, e.ID); err != nil || ok != want {
					t.Errorf("Lookup %s: found %v, %v; want %v", e.ID.Short(), ok, err, want)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	lookupAll(false)
	if len(db.readers.pool) == 0 {
		t.Fatal("no read transaction kept for the next lookup")
	}
	if err := db.AddFile(randomID(), f); err != nil {
		t.Fatal(err)
	}
	lookupAll(true)
	if locs, err := db.LookupAll(e.Type, e.ID); err != nil || len(locs) != 1 {
		t.Fatalf("LookupAll = %v, %v; want one copy", locs, err)
	}
	if err := db.Reset(); err != nil {
		t.Fatal(err)
	}
	lookupAll(false)

	// Lookups while files are added, for the race detector.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if _, _, err := db.Lookup(pack.DataBlob, e.ID); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 20 {
		if err := db.AddFile(randomID(), testFile(1, 5)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}
