package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/backend"
)

// ErrBlobNotFound is wrapped when a blob is in no index.
var ErrBlobNotFound = errors.New("repo: blob not found in index")

// LoadBlob reads, verifies and returns blob id of type t, appended to dst.
// A missing pack or a blob that fails verification is remembered, so
// that later backups store the blob again rather than rely on this copy.
//
// When the blob has several copies, the usable ones are tried first and
// each in turn until one reads and verifies. Trees come from the local
// cache when it holds their pack (verified there too).
func (r *Repository) LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID, dst []byte) ([]byte, error) {
	if t == pack.TreeBlob && r.files.enabled() {
		if out, ok := r.loadCachedTree(ctx, id, dst); ok {
			return out, nil
		}
	}
	return r.loadBlob(ctx, t, id, dst)
}

// maxTreePack bounds the size of a tree pack fetched into the cache whole.
const maxTreePack = 64 << 20

// treePack serializes the fetches of one tree pack; failed remembers one
// that could not be cached, so that its trees are read one by one rather
// than the pack fetched again for each.
type treePack struct {
	mu     sync.Mutex
	failed bool
}

// treesOnly reports whether a pack holds trees and nothing else, as the
// packs a writer fills for trees do.
func treesOnly(entries []pack.Entry) bool {
	for _, e := range entries {
		if e.Type != pack.TreeBlob {
			return false
		}
	}
	return len(entries) > 0
}

// loadCachedTree reads tree id from its cached pack. On a miss it fetches
// the pack whole into the cache, checked against its name, and reads the
// tree from there: a host with a cold cache (a restore or ls on a new
// machine) makes a request per tree pack rather than per tree. It reports
// false when the pack cannot be cached (unreadable, damaged, holding other
// blobs than trees, or larger than maxTreePack); LoadBlob then reads the
// tree alone, trying each copy.
func (r *Repository) loadCachedTree(ctx context.Context, id crypto.ID, dst []byte) ([]byte, bool) {
	loc, ok, err := r.Lookup(pack.TreeBlob, id)
	if err != nil || !ok || !r.Usable(loc) {
		return nil, false
	}
	if out, ok := r.files.readTree(loc, dst); ok {
		return out, true
	}
	v, _ := r.treePacks.LoadOrStore(loc.Pack, &treePack{})
	tp := v.(*treePack)
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if out, ok := r.files.readTree(loc, dst); ok {
		return out, true // another goroutine fetched the pack
	}
	if tp.failed || ctx.Err() != nil {
		return nil, false
	}
	tp.failed = true
	ip, ok, err := r.IndexedPack(loc.Pack)
	if err != nil || !ok || ip.Size > maxTreePack {
		return nil, false
	}
	if !treesOnly(ip.Entries) {
		return nil, false
	}
	h := backend.Handle{Type: backend.PackFile, Name: loc.Pack.String()}
	rd, err := r.be.Load(ctx, h, 0, 0)
	if err != nil {
		return nil, false
	}
	cached := r.files.add("packs", loc.Pack, rd)
	rd.Close()
	if !cached {
		return nil, false
	}
	out, ok := r.files.readTree(loc, dst)
	tp.failed = !ok
	return out, ok
}

// LoadStoredBlob is LoadBlob reading the repository only, never the local
// cache: check verifies what storage holds.
func (r *Repository) LoadStoredBlob(ctx context.Context, t pack.BlobType, id crypto.ID, dst []byte) ([]byte, error) {
	return r.loadBlob(ctx, t, id, dst)
}

func (r *Repository) loadBlob(ctx context.Context, t pack.BlobType, id crypto.ID, dst []byte) ([]byte, error) {
	locs, err := r.Copies(t, id)
	if err != nil {
		return nil, err
	}
	if len(locs) == 0 {
		return nil, fmt.Errorf("repo: %s blob %s: %w", t, id.Short(), ErrBlobNotFound)
	}
	var first error
	for _, loc := range locs {
		out, err := r.loadCopy(ctx, t, id, loc, dst)
		if err == nil {
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

func (r *Repository) loadCopy(ctx context.Context, t pack.BlobType, id crypto.ID, loc Location, dst []byte) ([]byte, error) {
	if loc.Entry.Grouped() {
		if g := r.lastGroups.get(loc); g != nil {
			if out, err := pack.Member(r.key, nil, loc.Entry, g, dst); err == nil {
				return out, nil
			}
		}
	}
	sealed := make([]byte, loc.Entry.Length)
	h := backend.Handle{Type: backend.PackFile, Name: loc.Pack.String()}
	if err := backend.ReadAt(ctx, r.be, h, sealed, int64(loc.Entry.Offset)); err != nil {
		r.noteReadError(loc, err)
		return nil, fmt.Errorf("repo: load %s blob %s from pack %s: %w", t, id.Short(), loc.Pack.Short(), err)
	}
	var out []byte
	var err error
	if loc.Entry.Grouped() {
		var g []byte
		if g, err = pack.OpenGroup(r.key, loc.Entry, sealed, nil); err == nil {
			r.lastGroups.put(loc, g)
			out, err = pack.Member(r.key, nil, loc.Entry, g, dst)
		}
	} else {
		out, err = pack.OpenBlob(r.key, nil, loc.Entry, sealed, dst)
	}
	if err != nil {
		r.noteReadError(loc, err)
		return nil, fmt.Errorf("repo: pack %s: %w", loc.Pack, err)
	}
	return out, nil
}

// ErrAmbiguous is wrapped when an ID prefix names more than one blob.
var ErrAmbiguous = errors.New("repo: ID prefix matches several blobs")

// FindBlob resolves a full ID or a unique hex prefix of a blob of type t.
func (r *Repository) FindBlob(t pack.BlobType, prefix string) (crypto.ID, error) {
	prefix = strings.ToLower(prefix)
	ids, err := r.idx.FindPrefix(t, prefix, 2)
	switch {
	case err != nil:
		return crypto.ID{}, err
	case len(ids) == 0:
		return crypto.ID{}, fmt.Errorf("repo: %s blob %q: %w", t, prefix, ErrBlobNotFound)
	case len(ids) > 1:
		return crypto.ID{}, fmt.Errorf("%w: %s blob %q", ErrAmbiguous, t, prefix)
	}
	return ids[0], nil
}

// PackCheck is what CheckPack found in one pack.
type PackCheck struct {
	Size    int64
	Intact  bool         // the content hashes to the pack's name
	Entries []pack.Entry // from the pack's own header (nil if unreadable)
	Header  error        // why the header could not be read
	Bad     map[crypto.ID]error
}

// CheckPack reads pack id whole and checks it: its content against its
// name, its header, and every blob the header lists (authentication, then
// the keyed hash against its ID). Blobs that fail are recorded as damaged
// (out of deduplication), as is a pack whose content does not match its
// name.
func (r *Repository) CheckPack(ctx context.Context, id crypto.ID) (PackCheck, error) {
	h := backend.Handle{Type: backend.PackFile, Name: id.String()}
	data, err := backend.ReadAll(ctx, r.be, h)
	if err != nil {
		if errors.Is(err, backend.ErrNotExist) {
			r.markDamaged(id, 0, crypto.ID{}, reasonMissing)
		}
		return PackCheck{}, err
	}
	pc := PackCheck{Size: int64(len(data)), Intact: crypto.Hash(data) == id, Bad: map[crypto.ID]error{}}
	pc.Entries, pc.Header = pack.ReadHeader(r.key, bytes.NewReader(data), int64(len(data)))
	opener := pack.NewOpener(r.key, r.key.NewIDHasher())
	var plain []byte
	for _, e := range pc.Entries {
		if plain, err = opener.Open(e, data[e.Offset:e.Offset+e.Length], plain[:0]); err != nil {
			pc.Bad[e.ID] = err
			r.markDamaged(id, e.Type, e.ID, reasonDamaged)
		}
	}
	if !pc.Intact && len(pc.Bad) == 0 {
		r.markDamaged(id, 0, crypto.ID{}, reasonDamaged)
	}
	return pc, nil
}
