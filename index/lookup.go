package index

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	badger "github.com/dgraph-io/badger/v4"
)

// Location says where a blob is stored.
type Location struct {
	Pack  crypto.ID
	Entry pack.Entry
}

func blobKey(t pack.BlobType, id crypto.ID) []byte {
	k := make([]byte, 2+crypto.IDSize)
	k[0], k[1] = prefixBlob, byte(t)
	copy(k[2:], id[:])
	return k
}

func encodeLocation(l Location) []byte {
	v := make([]byte, 0, valueLength+4)
	v = append(v, l.Pack[:]...)
	v = append(v, byte(l.Entry.Type), l.Entry.Flags)
	return appendPlace(v, l.Entry)
}

// validLocation reports whether v has the length of an encoded location.
func validLocation(v []byte) bool {
	return len(v) >= valueLength && len(v) == crypto.IDSize+2+placeLength(v[crypto.IDSize+1])
}

func decodeLocation(id crypto.ID, v []byte) (Location, error) {
	if !validLocation(v) {
		return Location{}, fmt.Errorf("index: cache entry for %s has %d bytes", id.Short(), len(v))
	}
	var l Location
	copy(l.Pack[:], v)
	v = v[crypto.IDSize:]
	l.Entry = pack.Entry{Type: pack.BlobType(v[0]), Flags: v[1], ID: id}
	decodePlace(&l.Entry, v[2:])
	return l, nil
}

// Lookup returns where blob id of type t is stored: its primary copy, or
// another when the primary's pack was dropped.
func (d *DB) Lookup(t pack.BlobType, id crypto.ID) (Location, bool, error) {
	var loc Location
	found, fallback := false, false
	err := d.view(func(txn *badger.Txn) error {
		item, err := txn.Get(blobKey(t, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			l, err := decodeLocation(id, v)
			if err != nil {
				return err
			}
			if d.isGone(l.Pack) {
				fallback = true
				return nil
			}
			loc, found = l, true
			return nil
		})
	})
	if err != nil {
		return Location{}, false, fmt.Errorf("index: lookup %s: %w", id.Short(), err)
	}
	if fallback {
		locs, err := d.LookupAll(t, id)
		if err != nil || len(locs) == 0 {
			return Location{}, false, err
		}
		return locs[0], true, nil
	}
	return loc, found, nil
}

// LookupAll returns every known copy of blob id of type t, the primary
// first.
func (d *DB) LookupAll(t pack.BlobType, id crypto.ID) ([]Location, error) {
	var locs []Location
	err := d.view(func(txn *badger.Txn) error {
		var err error
		locs, err = d.copies(txn, t, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("index: lookup %s: %w", id.Short(), err)
	}
	return locs, nil
}

// copies returns the copies of a blob not in dropped packs, the primary
// first.
func (d *DB) copies(txn *badger.Txn, t pack.BlobType, id crypto.ID) ([]Location, error) {
	var locs []Location
	if item, err := txn.Get(blobKey(t, id)); err == nil {
		if err := item.Value(func(v []byte) error {
			l, err := decodeLocation(id, v)
			if err == nil && !d.isGone(l.Pack) {
				locs = append(locs, l)
			}
			return err
		}); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return nil, err
	}
	opts := badger.DefaultIteratorOptions
	opts.Prefix = append([]byte{prefixCopy, byte(t)}, id[:]...)
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		err := it.Item().Value(func(v []byte) error {
			l, err := decodeLocation(id, v)
			if err != nil {
				return err
			}
			if !d.isGone(l.Pack) && !slices.ContainsFunc(locs, func(o Location) bool { return o.Pack == l.Pack }) {
				locs = append(locs, l)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return locs, nil
}

func copyKey(t pack.BlobType, id, p crypto.ID) []byte {
	k := make([]byte, 0, 2+2*crypto.IDSize)
	k = append(k, prefixCopy, byte(t))
	k = append(k, id[:]...)
	return append(k, p[:]...)
}

// FindPrefix returns the IDs of blobs of type t whose hex form starts with
// prefix, stopping after max of them.
func (d *DB) FindPrefix(t pack.BlobType, prefix string, max int) ([]crypto.ID, error) {
	var raw []byte
	for i := 0; i+1 < len(prefix); i += 2 {
		var b byte
		if _, err := fmt.Sscanf(prefix[i:i+2], "%02x", &b); err != nil {
			return nil, fmt.Errorf("index: %q is not a hex ID prefix", prefix)
		}
		raw = append(raw, b)
	}
	var out []crypto.ID
	err := d.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = append([]byte{prefixBlob, byte(t)}, raw...)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid() && len(out) < max; it.Next() {
			k := it.Item().Key()
			if len(k) != 2+crypto.IDSize {
				continue
			}
			id := crypto.ID(k[2:])
			if !strings.HasPrefix(id.String(), prefix) {
				continue
			}
			if locs, err := d.copies(txn, t, id); err != nil {
				return err
			} else if len(locs) > 0 {
				out = append(out, id)
			}
		}
		return nil
	})
	return out, err
}

// Has reports whether blob id of type t is indexed.
func (d *DB) Has(t pack.BlobType, id crypto.ID) (bool, error) {
	_, ok, err := d.Lookup(t, id)
	return ok, err
}

// GoneCount returns the number of dropped packs whose copies blob values
// may still list.
func (d *DB) GoneCount() int { return len(*d.gone.Load()) }

// Count returns the number of indexed blobs (with a copy in a pack not
// dropped).
func (d *DB) Count() (int, error) {
	n := 0
	err := d.scan(prefixBlob, true, func(k []byte, item *badger.Item) error {
		var p crypto.ID
		if err := item.Value(func(v []byte) error { p = crypto.ID(v[:crypto.IDSize]); return nil }); err != nil {
			return err
		}
		if !d.isGone(p) {
			n++
			return nil
		}
		locs, err := d.LookupAll(pack.BlobType(k[0]), crypto.ID(k[1:]))
		if len(locs) > 0 {
			n++
		}
		return err
	})
	return n, err
}

func (d *DB) loadGone() error {
	gone := map[crypto.ID]bool{}
	err := d.scan(prefixGone, false, func(k []byte, _ *badger.Item) error {
		if len(k) == crypto.IDSize {
			gone[crypto.ID(k)] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: open cache %s: %w", d.dir, err)
	}
	d.gone.Store(&gone)
	return nil
}

func (d *DB) isGone(p crypto.ID) bool {
	g := d.gone.Load()
	return g != nil && len(*g) > 0 && (*g)[p]
}

// setGone changes the in-memory set of dropped packs (d.mu held).
func (d *DB) setGone(add, remove []crypto.ID) {
	if len(add) == 0 && len(remove) == 0 {
		return
	}
	m := maps.Clone(*d.gone.Load())
	for _, p := range add {
		m[p] = true
	}
	for _, p := range remove {
		delete(m, p)
	}
	d.gone.Store(&m)
}
