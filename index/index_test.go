package index

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
)

func randomID() crypto.ID {
	var id crypto.ID
	rand.Read(id[:])
	return id
}

func testFile(packs, blobs int) *File {
	f := &File{}
	for range packs {
		p := Pack{ID: randomID()}
		off := uint32(0)
		for j := range blobs {
			e := pack.Entry{Type: pack.DataBlob, ID: randomID(), Offset: off, Length: 100 + uint32(j), RawLength: 60 + uint32(j)}
			switch {
			case j%3 == 0:
				e.Type = pack.TreeBlob
			case j%6 == 1: // a group of two data blobs
				e.Flags = pack.FlagZstd | pack.FlagGroup
			case j%6 == 2:
				prev := p.Entries[j-1]
				e.Flags, e.Offset, e.Length, e.Inner = prev.Flags, prev.Offset, prev.Length, prev.Inner+prev.RawLength
			}
			if j%6 != 2 {
				off += e.Length
			}
			p.Entries = append(p.Entries, e)
		}
		p.Size = int64(off) + 200
		f.Packs = append(f.Packs, p)
	}
	return f
}

func TestFileRoundTrip(t *testing.T) {
	for _, f := range []*File{{}, testFile(1, 1), testFile(5, 100)} {
		got, err := Decode(f.Encode(nil))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got.Packs) != fmt.Sprint(f.Packs) && len(f.Packs) > 0 {
			t.Fatalf("round trip differs")
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := testFile(2, 3).Encode(nil)
	cases := map[string][]byte{
		"empty":     nil,
		"version":   append([]byte{2}, good[1:]...),
		"truncated": good[:len(good)-3],
		"trailing":  append(append([]byte{}, good...), 7),
		"count":     {1, 0xff, 0xff, 0x03},
	}
	for name, b := range cases {
		if _, err := Decode(b); !errors.Is(err, pack.ErrCorrupt) {
			t.Errorf("%s: err = %v; want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(testFile(1, 2).Encode(nil))
	f.Add((&File{}).Encode(nil))
	v2 := testFile(1, 2)
	v2.Supersedes = []crypto.ID{crypto.Hash([]byte("old"))}
	f.Add(v2.Encode(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Decode(b)
		if err != nil {
			if !errors.Is(err, pack.ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if _, err := Decode(file.Encode(nil)); err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
	})
}

func TestDB(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	db, err := OpenDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := testFile(3, 50)
	fid := randomID()
	if err := db.AddFile(fid, f); err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Packs {
		size, entries, ok, err := db.Pack(p.ID)
		if err != nil || !ok || size != p.Size || fmt.Sprint(entries) != fmt.Sprint(p.Entries) {
			t.Fatalf("Pack %s = %d, %v, %v, %v; want %d, %v", p.ID.Short(), size, entries, ok, err, p.Size, p.Entries)
		}
		for _, e := range p.Entries {
			loc, ok, err := db.Lookup(e.Type, e.ID)
			if err != nil || !ok {
				t.Fatalf("Lookup %s: ok=%v err=%v", e.ID.Short(), ok, err)
			}
			if loc.Pack != p.ID || loc.Entry != e {
				t.Fatalf("Lookup %s = %+v; want pack %s entry %+v", e.ID.Short(), loc, p.ID.Short(), e)
			}
			other := pack.DataBlob
			if e.Type == pack.DataBlob {
				other = pack.TreeBlob
			}
			if ok, _ := db.Has(other, e.ID); ok {
				t.Fatalf("blob %s found under the wrong type", e.ID.Short())
			}
		}
	}
	if ok, _ := db.Has(pack.DataBlob, randomID()); ok {
		t.Fatal("random ID found")
	}
	if _, err := OpenDB(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second OpenDB: err = %v; want ErrLocked", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = OpenDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files, _ := db.Files()
	if len(files) != 1 || !files[fid] {
		t.Fatalf("Files after reopen = %v; want {%s}", files, fid.Short())
	}
	if n, _ := db.Count(); n != 150 {
		t.Fatalf("Count = %d; want 150", n)
	}
	if err := db.Reset(); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.Count(); n != 0 {
		t.Fatalf("Count after Reset = %d; want 0", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	db, err := OpenDB(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var ids []crypto.ID
	for range 20 {
		f := testFile(10, 500)
		if err := db.AddFile(randomID(), f); err != nil {
			b.Fatal(err)
		}
		for _, p := range f.Packs {
			for _, e := range p.Entries {
				if e.Type == pack.DataBlob {
					ids = append(ids, e.ID)
				}
			}
		}
	}
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok, _ := db.Lookup(pack.DataBlob, ids[i%len(ids)]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		id := randomID()
		for b.Loop() {
			id[0]++
			db.Lookup(pack.DataBlob, id)
		}
	})
}

func TestDamageAndPacks(t *testing.T) {
	dir := t.TempDir()
	db, err := OpenDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := testFile(3, 4)
	fileID := randomID()
	if err := db.AddFile(fileID, f); err != nil {
		t.Fatal(err)
	}
	sizes := map[crypto.ID]int64{}
	if err := db.Packs(func(id crypto.ID, size int64) error { sizes[id] = size; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Packs {
		if got, _ := db.PackSize(p.ID); sizes[p.ID] != p.Size || got != p.Size {
			t.Errorf("pack %s: size %d (Packs), %d (PackSize); want %d", p.ID.Short(), sizes[p.ID], got, p.Size)
		}
	}
	p0, e0 := f.Packs[0].ID, f.Packs[1].Entries[2]
	marks := []Damage{{Pack: p0, Reason: "missing"}, {Pack: f.Packs[1].ID, Type: e0.Type, Blob: e0.ID, Reason: "damaged"}}
	for _, m := range marks {
		if err := db.MarkDamaged(m); err != nil {
			t.Fatal(err)
		}
	}
	bad := randomID()
	if err := db.MarkFileDamaged(bad, "corrupt"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Marks outlive the process; a cleared pack mark leaves the blob's.
	db, err = OpenDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Damaged()
	if err != nil || len(got) != 2 {
		t.Fatalf("Damaged = %v, %v; want both marks", got, err)
	}
	if err := db.ClearDamaged(p0); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Damaged(); len(got) != 1 || got[0] != marks[1] {
		t.Errorf("after clearing the pack: %v; want only %v", got, marks[1])
	}
	files, _ := db.DamagedFiles()
	loaded, _ := db.Files()
	if files[bad] != "corrupt" || !loaded[bad] || !loaded[fileID] {
		t.Errorf("damaged files %v, loaded %v; want %s marked and loaded", files, loaded, bad.Short())
	}
}

// TestRemoveStale: a private cache left by a killed process is removed, one
// in use or too recent is not.
func TestRemoveStale(t *testing.T) {
	parent := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	mk := func(name string, keepOpen bool) string {
		dir := filepath.Join(parent, name)
		db, err := OpenDB(dir)
		if err != nil {
			t.Fatal(err)
		}
		if keepOpen {
			t.Cleanup(func() { db.Close() })
		} else {
			db.Close()
		}
		return dir
	}
	stale, live, recent := mk("arca-cache-1", false), mk("arca-cache-2", true), mk("arca-cache-3", false)
	other := filepath.Join(parent, "other-1")
	os.Mkdir(other, 0o700)
	for _, d := range []string{stale, live, other} {
		os.Chtimes(d, old, old)
	}
	n, err := RemoveStale(parent, "arca-cache-", time.Now().Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("RemoveStale = %d, %v; want 1", n, err)
	}
	for dir, want := range map[string]bool{stale: false, live: true, recent: true, other: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s exists: %v; want %v", filepath.Base(dir), err == nil, want)
		}
	}
}

// TestDropFile: the cache keeps every copy of a blob, and dropping an index
// file removes exactly the packs no other loaded file lists, with their
// copies and damage marks.
func TestDropFile(t *testing.T) {
	db, err := OpenDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mk := func(entries ...crypto.ID) Pack {
		p := Pack{ID: randomID()}
		for i, id := range entries {
			p.Entries = append(p.Entries, pack.Entry{Type: pack.DataBlob, ID: id, Offset: uint32(i * 100), Length: 100, RawLength: 60})
		}
		p.Size = int64(len(entries)*100 + 50)
		return p
	}
	x, y, z, w := randomID(), randomID(), randomID(), randomID()
	a, b, c := mk(x, y), mk(z), mk(w, x)
	f1, f2 := randomID(), randomID()
	if err := db.AddFile(f1, &File{Packs: []Pack{a, b}}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddFile(f2, &File{Packs: []Pack{c, b}}); err != nil {
		t.Fatal(err)
	}
	where := func(id crypto.ID) []crypto.ID {
		locs, err := db.LookupAll(pack.DataBlob, id)
		if err != nil {
			t.Fatal(err)
		}
		var out []crypto.ID
		for _, l := range locs {
			out = append(out, l.Pack)
		}
		return out
	}
	if got := where(x); len(got) != 2 || !slices.Contains(got, a.ID) || !slices.Contains(got, c.ID) {
		t.Fatalf("copies of x = %v; want packs a, c", got)
	}
	if loc, _, _ := db.Lookup(pack.DataBlob, x); loc.Pack != where(x)[0] {
		t.Fatalf("Lookup(x) = %+v; want the primary copy, listed first", loc)
	}
	if err := db.MarkDamaged(Damage{Pack: a.ID, Reason: "missing"}); err != nil {
		t.Fatal(err)
	}
	if err := db.DropFile(f1, true); err != nil {
		t.Fatal(err)
	}
	if got := where(x); !slices.Equal(got, []crypto.ID{c.ID}) {
		t.Errorf("after dropping f1, copies of x = %v; want pack c", got)
	}
	if got := where(y); got != nil {
		t.Errorf("after dropping f1, y is still at %v", got)
	}
	if got := where(z); !slices.Equal(got, []crypto.ID{b.ID}) {
		t.Errorf("pack b, listed by f2 too, lost: z at %v", got)
	}
	if ok, _ := db.HasPack(a.ID); ok {
		t.Error("pack a still listed")
	}
	if dm, _ := db.Damaged(); len(dm) != 0 {
		t.Errorf("damage of the dropped pack kept: %v", dm)
	}
	files, _ := db.Files()
	sup, _ := db.Superseded()
	if len(files) != 1 || !files[f2] || !sup[f1] {
		t.Errorf("files %v, superseded %v; want f2 loaded, f1 superseded", files, sup)
	}
	// Collect rewrites the values for good; lookups are the same.
	if db.GoneCount() != 1 {
		t.Errorf("%d dropped packs; want 1", db.GoneCount())
	}
	if err := db.Collect(); err != nil {
		t.Fatal(err)
	}
	if got := where(x); db.GoneCount() != 0 || !slices.Equal(got, []crypto.ID{c.ID}) {
		t.Errorf("after Collect: %d dropped, x at %v", db.GoneCount(), got)
	}
	// A dropped pack listed again (a repair that indexes it) is back.
	f3 := randomID()
	if err := db.DropFile(f2, false); err != nil {
		t.Fatal(err)
	}
	if err := db.AddFile(f3, &File{Packs: []Pack{c}}); err != nil {
		t.Fatal(err)
	}
	if got := where(w); !slices.Equal(got, []crypto.ID{c.ID}) {
		t.Errorf("pack c listed again: w at %v", got)
	}
	if err := db.AddFile(f2, &File{Packs: []Pack{c, b}}); err != nil {
		t.Fatal(err)
	}
	if err := db.DropFile(f3, false); err != nil {
		t.Fatal(err)
	}
	if err := db.DropFile(f2, false); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.Count(); n != 0 {
		t.Errorf("%d blobs left after dropping every file", n)
	}
}

// TestAddFileLarge: a file whose entries exceed one badger transaction
// loads whole.
func TestAddFileLarge(t *testing.T) {
	db, err := OpenDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := testFile(4, 20000)
	if err := db.AddFile(randomID(), f); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.Count(); n != 80000 {
		t.Fatalf("Count = %d; want 80000", n)
	}
}
