package repo

import "github.com/arcabackup/arca/crypto"

// Verified trees spare an unchanged re-backup one index lookup per file
// (index/verified.go): a backup records its root tree as verified, since it
// checked or stored every blob the tree reaches, and the next backup with
// that parent trusts the blobs of unchanged files while the index's
// removal count has not moved.

// trustPresence reports whether presence may be carried over at all: not
// while damage is recorded or packs are marked for deletion, which has
// checks blob by blob.
func (r *Repository) trustPresence() bool {
	m := r.cands.packs.Load()
	return !r.dmg.some.Load() && (m == nil || len(*m) == 0)
}

// Removals returns the index's removal count, for SetVerified.
func (r *Repository) Removals() (uint64, error) { return r.idx.Removals() }

// Verified reports whether every blob tree reaches is present: it was
// recorded with SetVerified, nothing has left the index since, and no
// damage or deletion candidates are known.
func (r *Repository) Verified(tree crypto.ID) bool {
	if !r.trustPresence() {
		return false
	}
	ok, err := r.idx.Verified(tree)
	return err == nil && ok
}

// SetVerified records that every blob tree reaches was present at removal
// count n (from Removals); it records nothing if the count has moved
// (index.DB.SetVerified) or presence may not be carried over.
func (r *Repository) SetVerified(tree crypto.ID, n uint64) error {
	if !r.trustPresence() {
		return nil
	}
	return r.idx.SetVerified(tree, n)
}
