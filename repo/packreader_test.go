package repo_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/count"
	"github.com/arcabackup/arca/repo/backend/mem"
	"github.com/arcabackup/arca/repo/repotest"
)

// packReaderRepo saves small (grouped) and large blobs and reopens the
// repository on a counting backend, with its warnings collected.
func packReaderRepo(t *testing.T) (*repo.Repository, *mem.Backend, *count.Backend, map[crypto.ID][]byte, *[]string) {
	t.Helper()
	be := mem.New()
	blobs := saveMixed(t, repotest.OnBackend(t, be), 600, "p")
	cb := count.New(be)
	var mu sync.Mutex
	warned := &[]string{}
	r, err := repo.Open(t.Context(), cb, []byte(repotest.Password), repo.OpenOptions{CacheDir: t.TempDir(),
		Warn: func(m string) { mu.Lock(); *warned = append(*warned, m); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, be, cb, blobs, warned
}

// byPack groups the entries of blobs by pack, every keep-th one (1: all).
func byPack(t *testing.T, r *repo.Repository, blobs map[crypto.ID][]byte, keep int) map[crypto.ID][]pack.Entry {
	t.Helper()
	out := map[crypto.ID][]pack.Entry{}
	i := 0
	for id := range blobs {
		loc, ok, err := r.Lookup(pack.DataBlob, id)
		if err != nil || !ok {
			t.Fatalf("blob %s: %v, %v", id.Short(), ok, err)
		}
		if i++; i%keep == 0 {
			out[loc.Pack] = append(out[loc.Pack], loc.Entry)
		}
	}
	return out
}

// readAll reads entries of each pack and returns what was delivered and
// the errors met, by blob.
func readAll(t *testing.T, pr *repo.PackReader, packs map[crypto.ID][]pack.Entry, blobs map[crypto.ID][]byte) (ok int, failed map[crypto.ID]error) {
	t.Helper()
	failed = map[crypto.ID]error{}
	for p, entries := range packs {
		_, err := pr.Read(t.Context(), p, entries, func(e pack.Entry, plain []byte, err error) error {
			switch {
			case err != nil:
				failed[e.ID] = err
			case !bytes.Equal(plain, blobs[e.ID]):
				t.Fatalf("blob %s: wrong content", e.ID.Short())
			default:
				ok++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ok, failed
}

// TestPackReaderModes: buffered and streamed, a PackReader delivers every
// blob asked for (all of a pack, or every third), a stream reads a whole
// pack in one request, and reading every blob checks the pack against its
// name: damage outside the blobs (here its header) is reported while the
// blobs are delivered.
func TestPackReaderModes(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "buffered", true: "stream"}[stream], func(t *testing.T) {
			r, be, cb, blobs, warned := packReaderRepo(t)
			pr := r.NewPackReader()
			pr.Stream = stream
			for _, keep := range []int{1, 3} {
				packs := byPack(t, r, blobs, keep)
				before := cb.Counts().Loads
				ok, failed := readAll(t, pr, packs, blobs)
				if want := len(blobs) / keep; ok < want || len(failed) > 0 {
					t.Fatalf("every %d: %d delivered, %d failed; want %d", keep, ok, len(failed), want)
				}
				if loads := cb.Counts().Loads - before; stream && loads != int64(len(packs)) {
					t.Errorf("every %d: %d loads for %d packs; want one each", keep, loads, len(packs))
				}
			}
			if len(*warned) > 0 {
				t.Fatalf("warnings reading intact packs: %q", *warned)
			}
			// Damage the last byte (the header's) of one pack.
			packs := byPack(t, r, blobs, 1)
			var victim crypto.ID
			for p := range packs {
				victim = p
				break
			}
			h := backend.Handle{Type: backend.PackFile, Name: victim.String()}
			data, _ := backend.ReadAll(t.Context(), be, h)
			data[len(data)-1] ^= 1
			be.Save(t.Context(), h, backend.Bytes(data))
			ok, failed := readAll(t, pr, map[crypto.ID][]pack.Entry{victim: packs[victim]}, blobs)
			if ok != len(packs[victim]) || len(failed) > 0 {
				t.Errorf("damaged header: %d of %d blobs delivered, %d failed", ok, len(packs[victim]), len(failed))
			}
			if len(*warned) != 1 || !strings.Contains((*warned)[0], victim.String()) || !strings.Contains((*warned)[0], "does not match its name") {
				t.Errorf("warnings %q; want one naming pack %s", *warned, victim.Short())
			}
		})
	}
}

// TestPackReaderCutPack: a pack cut short in its middle delivers the blobs
// before the cut and an error for each blob after it, in both modes.
func TestPackReaderCutPack(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "buffered", true: "stream"}[stream], func(t *testing.T) {
			r, be, _, blobs, _ := packReaderRepo(t)
			packs := byPack(t, r, blobs, 1)
			var victim crypto.ID
			for p, entries := range packs {
				if len(entries) > len(packs[victim]) {
					victim = p
				}
			}
			h := backend.Handle{Type: backend.PackFile, Name: victim.String()}
			data, _ := backend.ReadAll(t.Context(), be, h)
			cut := len(data) / 2
			be.Save(t.Context(), h, backend.Bytes(data[:cut]))
			pr := r.NewPackReader()
			pr.Stream = stream
			ok, failed := readAll(t, pr, map[crypto.ID][]pack.Entry{victim: packs[victim]}, blobs)
			whole := 0
			for _, e := range packs[victim] {
				if int(e.Offset+e.Length) <= cut {
					whole++
				}
			}
			// Buffered reads fail a whole 4 MiB segment; a stream fails
			// from the cut on.
			if ok+len(failed) != len(packs[victim]) || len(failed) == 0 || stream && ok != whole || ok > whole {
				t.Errorf("%d delivered, %d failed; %d blobs lie before the cut", ok, len(failed), whole)
			}
			for id, err := range failed {
				if errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), victim.Short()) {
					t.Errorf("blob %s: %v; want an error naming the pack", id.Short(), err)
				}
			}
		})
	}
}
