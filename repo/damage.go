package repo

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/index"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/backend"
)

// ErrDamaged is wrapped by the error a command returns when it finished
// but skipped objects of the repository that are missing or damaged (each
// reported through Damage).
var ErrDamaged = errors.New("repo: some objects of the repository are missing or damaged and were skipped")

// Reasons recorded with damage: a missing pack is trusted again when it is
// listed again with its size; a damaged one is not.
const (
	reasonMissing = "missing"
	reasonDamaged = "damaged"
)

type blobAt struct {
	pack crypto.ID
	t    pack.BlobType
	blob crypto.ID
}

// damage is what the repository knows to be missing or damaged: such
// copies of blobs are not used for deduplication, so the next backup of
// the same data stores them again. It is kept in the cache (index.DB) and
// mirrored here, where every deduplication check looks.
type damage struct {
	some     atomic.Bool // any pack or blob recorded: the fast path skips mu
	mu       sync.Mutex
	packs    map[crypto.ID]string
	blobs    map[blobAt]string
	reported map[string]bool
	count    int
}

func (r *Repository) loadDamage() error {
	r.dmg.packs, r.dmg.blobs, r.dmg.reported = map[crypto.ID]string{}, map[blobAt]string{}, map[string]bool{}
	list, err := r.idx.Damaged()
	if err != nil {
		return err
	}
	for _, dm := range list {
		if dm.Type == 0 {
			r.dmg.packs[dm.Pack] = dm.Reason
		} else {
			r.dmg.blobs[blobAt{dm.Pack, dm.Type, dm.Blob}] = dm.Reason
		}
	}
	r.dmg.some.Store(len(list) > 0)
	return nil
}

// markDamaged records that a pack (t == 0) or a blob in it is missing or
// damaged, in memory and in the cache. It reports nothing: the caller
// knows what the damage means to the user.
func (r *Repository) markDamaged(p crypto.ID, t pack.BlobType, blob crypto.ID, reason string) {
	r.dmg.mu.Lock()
	if t == 0 {
		if _, ok := r.dmg.packs[p]; ok {
			r.dmg.mu.Unlock()
			return
		}
		r.dmg.packs[p] = reason
	} else {
		k := blobAt{p, t, blob}
		if _, ok := r.dmg.blobs[k]; ok {
			r.dmg.mu.Unlock()
			return
		}
		r.dmg.blobs[k] = reason
	}
	r.dmg.some.Store(true)
	r.dmg.mu.Unlock()
	if err := r.idx.MarkDamaged(index.Damage{Pack: p, Type: t, Blob: blob, Reason: reason}); err != nil {
		r.Warn(err.Error())
	}
}

// packPresent forgets that pack p was missing (not that it was found
// damaged).
func (r *Repository) packPresent(p crypto.ID) {
	if !r.dmg.some.Load() {
		return
	}
	r.dmg.mu.Lock()
	reason, ok := r.dmg.packs[p]
	ok = ok && reason == reasonMissing
	if ok {
		delete(r.dmg.packs, p)
	}
	r.dmg.mu.Unlock()
	if ok {
		if err := r.idx.ClearDamaged(p); err != nil {
			r.Warn(err.Error())
		}
	}
}

// noteReadError marks the copy of a blob that a read failed on, when the
// failure says something about the stored data: a missing pack, or
// content that does not authenticate.
func (r *Repository) noteReadError(loc index.Location, err error) {
	switch {
	case errors.Is(err, backend.ErrNotExist):
		r.markDamaged(loc.Pack, 0, crypto.ID{}, reasonMissing)
	case errors.Is(err, ErrCorrupt):
		r.markDamaged(loc.Pack, loc.Entry.Type, loc.Entry.ID, reasonDamaged)
	}
}

// usable reports whether the stored copy at loc may be relied on.
func (r *Repository) usable(loc index.Location) bool {
	if !r.dmg.some.Load() {
		return true
	}
	r.dmg.mu.Lock()
	defer r.dmg.mu.Unlock()
	if _, bad := r.dmg.packs[loc.Pack]; bad {
		return false
	}
	_, bad := r.dmg.blobs[blobAt{loc.Pack, loc.Entry.Type, loc.Entry.ID}]
	return !bad
}

// has reports whether blob id of type t is stored in a copy not known to
// be missing or damaged and not in a pack marked for deletion: what
// deduplication may rely on.
func (r *Repository) has(t pack.BlobType, id crypto.ID) (bool, error) {
	loc, ok, err := r.idx.Lookup(t, id)
	if err != nil || !ok {
		return false, err
	}
	if r.usable(loc) && !r.cands.has(loc.Pack) {
		return true, nil // the common case: one lookup
	}
	locs, err := r.idx.LookupAll(t, id)
	if err != nil {
		return false, err
	}
	for _, l := range locs[1:] {
		if r.usable(l) && !r.cands.has(l.Pack) {
			return true, nil
		}
	}
	return false, nil
}

// Damage reports an object that is missing or damaged: what names it (a
// file of the repository, or a path in a snapshot), err says what is wrong
// and what was skipped because of it. Each object is reported once, through Warn;
// DamageCount says how many were, so that a command can finish with
// ErrDamaged.
func (r *Repository) Damage(what string, err error) {
	r.dmg.mu.Lock()
	if r.dmg.reported == nil {
		r.dmg.reported = map[string]bool{}
	}
	if r.dmg.reported[what] {
		r.dmg.mu.Unlock()
		return
	}
	r.dmg.reported[what] = true
	r.dmg.count++
	r.dmg.mu.Unlock()
	r.Warn(fmt.Sprintf("%s: %v", what, err))
}

// DamageCount returns the number of objects reported through Damage.
func (r *Repository) DamageCount() int {
	r.dmg.mu.Lock()
	defer r.dmg.mu.Unlock()
	return r.dmg.count
}
