package repo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/count"
	"github.com/arcabackup/arca/repo/backend/local"
	"github.com/arcabackup/arca/repo/backend/mem"
	"github.com/arcabackup/arca/repo/repotest"
)

// saveMixed saves n small text blobs and 3 large ones in one session and
// returns them; salt makes them differ from another call's.
func saveMixed(t *testing.T, r *repo.Repository, n int, salt string) map[crypto.ID][]byte {
	t.Helper()
	var datas [][]byte
	for i := range n {
		datas = append(datas, bytes.Repeat(fmt.Appendf(nil, "line %d of small file %d%s\n", i%7, i, salt), 1+i%300))
	}
	for i := range 3 {
		big := make([]byte, 200<<10)
		for j := range big {
			big[j] = byte(j*(i+3)^j>>7) + salt[0]
		}
		datas = append(datas, big)
	}
	return saveAll(t, r, datas)
}

// TestGroups: small data blobs are stored in groups, large ones alone;
// every blob loads back, alone and through a PackReader; check finds the
// packs intact; a damaged group fails its members only.
func TestGroups(t *testing.T) {
	ctx := t.Context()
	be, err := local.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	r := repotest.OnBackend(t, be)
	blobs := saveMixed(t, r, 2000, "a")
	groups := map[[2]uint32]int{}
	byPack := map[crypto.ID][]pack.Entry{}
	var victim crypto.ID
	for id, data := range blobs {
		loc, ok, err := r.Lookup(pack.DataBlob, id)
		if err != nil || !ok {
			t.Fatalf("blob %s: %v, %v", id.Short(), ok, err)
		}
		if grouped := loc.Entry.Grouped(); grouped != (len(data) < 128<<10) {
			t.Fatalf("blob of %d bytes: grouped %v", len(data), grouped)
		}
		if loc.Entry.Grouped() {
			groups[[2]uint32{loc.Entry.Offset, loc.Entry.Length}]++
			victim = id
		}
		byPack[loc.Pack] = append(byPack[loc.Pack], loc.Entry)
		got, err := r.LoadBlob(ctx, pack.DataBlob, id, nil)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("LoadBlob %s: %v", id.Short(), err)
		}
	}
	if len(groups) < 2 || len(groups) > 2000/20 {
		t.Fatalf("2000 small blobs in %d groups", len(groups))
	}
	pr := r.NewPackReader()
	read := 0
	for p, entries := range byPack {
		_, err := pr.Read(ctx, p, entries, func(e pack.Entry, plain []byte, err error) error {
			if err != nil || !bytes.Equal(plain, blobs[e.ID]) {
				t.Fatalf("PackReader %s: %v", e.ID.Short(), err)
			}
			read++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		pc, err := r.CheckPack(ctx, p)
		if err != nil || !pc.Intact || len(pc.Bad) != 0 || len(pc.Entries) != len(entries) {
			t.Fatalf("CheckPack %s: %+v, %v", p.Short(), pc, err)
		}
	}
	if read != len(blobs) {
		t.Fatalf("PackReader delivered %d of %d blobs", read, len(blobs))
	}

	repotest.FlipBlobByte(t, r, pack.DataBlob, victim)
	r2 := repotest.Open(t, be)
	vloc, _, _ := r.Lookup(pack.DataBlob, victim)
	failed := 0
	for id, data := range blobs {
		loc, _, _ := r.Lookup(pack.DataBlob, id)
		got, err := r2.LoadBlob(ctx, pack.DataBlob, id, nil)
		if loc.Pack == vloc.Pack && loc.Entry.SameGroup(vloc.Entry) {
			failed++
			if !errors.Is(err, repo.ErrCorrupt) {
				t.Errorf("member of the damaged group: %v; want ErrCorrupt", err)
			}
		} else if err != nil || !bytes.Equal(got, data) {
			t.Errorf("blob %s outside the damaged group: %v", id.Short(), err)
		}
	}
	if failed != groups[[2]uint32{vloc.Entry.Offset, vloc.Entry.Length}] {
		t.Errorf("%d blobs failed; want the damaged group's %d", failed, groups[[2]uint32{vloc.Entry.Offset, vloc.Entry.Length}])
	}
}

// TestNoGroupsBeforeFormat3: writers of a format 2 repository store every
// blob alone (arca before format 3 reads it); after migrate they group.
func TestNoGroupsBeforeFormat3(t *testing.T) {
	be := mem.New()
	r := repotest.OnBackend(t, be)
	cfg := r.Config()
	cfg.Version = repo.ConfigVersion2
	data, err := repo.SealFile(r.Key(), crypto.KindConfig, []byte(repo.EncodeConfig(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Save(t.Context(), backend.Handle{Type: backend.ConfigFile}, backend.Bytes(data)); err != nil {
		t.Fatal(err)
	}
	countGrouped := func(r *repo.Repository, blobs map[crypto.ID][]byte) int {
		n := 0
		for id := range blobs {
			loc, ok, err := r.Lookup(pack.DataBlob, id)
			if err != nil || !ok {
				t.Fatalf("blob %s: %v, %v", id.Short(), ok, err)
			}
			if loc.Entry.Grouped() {
				n++
			}
		}
		return n
	}
	r2 := repotest.Open(t, be)
	if n := countGrouped(r2, saveMixed(t, r2, 100, "b")); n != 0 {
		t.Errorf("format 2: %d blobs grouped", n)
	}
	if from, err := r2.Migrate(context.Background()); err != nil || from != repo.ConfigVersion2 {
		t.Fatalf("Migrate: %d, %v", from, err)
	}
	if n := countGrouped(r2, saveMixed(t, r2, 100, "c")); n != 100 {
		t.Errorf("after migrate: %d of 100 small blobs grouped", n)
	}
}

// TestGroupCache: LoadBlob of the members of one group, one after the
// other (dump, mount), reads the group from storage once.
func TestGroupCache(t *testing.T) {
	c := count.New(mem.New())
	r := repotest.OnBackend(t, c)
	blobs := saveMixed(t, r, 500, "a")
	r2 := repotest.Open(t, c)
	type key struct {
		pack     crypto.ID
		off, len uint32
	}
	byGroup := map[key][]crypto.ID{}
	for id := range blobs {
		loc, _, _ := r2.Lookup(pack.DataBlob, id)
		if loc.Entry.Grouped() {
			k := key{loc.Pack, loc.Entry.Offset, loc.Entry.Length}
			byGroup[k] = append(byGroup[k], id)
		}
	}
	before := c.Counts().Loads
	n := 0
	for _, ids := range byGroup {
		for _, id := range ids {
			got, err := r2.LoadBlob(t.Context(), pack.DataBlob, id, nil)
			if err != nil || !bytes.Equal(got, blobs[id]) {
				t.Fatalf("LoadBlob %s: %v", id.Short(), err)
			}
			n++
		}
	}
	if loads := c.Counts().Loads - before; loads != int64(len(byGroup)) {
		t.Errorf("%d members of %d groups loaded with %d reads; want one per group", n, len(byGroup), loads)
	}
}

// TestMaxPackBlobs: a pack ends at maxPackBlobs entries however small its
// blobs compress, so that its header stays readable.
func TestMaxPackBlobs(t *testing.T) {
	defer repo.SetMaxPackBlobs(5000)()
	r := repotest.OnBackend(t, mem.New())
	var datas [][]byte
	for i := range 20000 {
		datas = append(datas, fmt.Appendf(nil, "tiny %d", i))
	}
	saveAll(t, r, datas)
	n := 0
	err := r.IndexedPackSizes(func(id crypto.ID, size int64) error {
		ip, ok, err := r.IndexedPack(id)
		if err != nil || !ok {
			return fmt.Errorf("pack %s: %v", id.Short(), err)
		}
		n++
		if len(ip.Entries) > 5000+4096 { // a pack ends after the group that reaches the limit; a group holds 4,096 at most
			t.Errorf("pack %s holds %d blobs", id.Short(), len(ip.Entries))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Errorf("20,000 tiny blobs in %d pack(s); want several", n)
	}
}
