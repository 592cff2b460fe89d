package index

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/arcabackup/arca/crypto"
	badger "github.com/dgraph-io/badger/v4"
)

// An unchanged re-backup reuses the parent snapshot's blob lists for files
// it does not read, and must know that those blobs are still stored. Rather
// than one lookup per blob, the cache counts removals: every change that
// can make a present blob absent (packs dropped with their index files,
// damage recorded) increments the count, in the same write. A tree whose
// every reachable blob was found present at count n has every one of them
// present for as long as the count is n. Resetting the cache removes the
// count and every record with it.
var removalsKey = []byte{prefixRemovals}

// Removals returns the number of removals recorded so far.
func (d *DB) Removals() (uint64, error) {
	var n uint64
	err := d.db.View(func(txn *badger.Txn) error {
		var err error
		n, err = removals(txn)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	return n, nil
}

func removals(txn *badger.Txn) (uint64, error) {
	item, err := txn.Get(removalsKey)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	var n uint64
	err = item.Value(func(v []byte) error {
		n, _ = binary.Uvarint(v)
		return nil
	})
	return n, err
}

// countRemoval increments the removal count through set, the write that
// removes something; d.remMu is held.
func (d *DB) countRemoval(set func(k, v []byte) error) error {
	n, err := d.Removals()
	if err != nil {
		return err
	}
	return set(removalsKey, binary.AppendUvarint(nil, n+1))
}

// Verified reports whether every blob that tree reaches was recorded
// present (SetVerified) at the current removal count.
func (d *DB) Verified(tree crypto.ID) (bool, error) {
	ok := false
	err := d.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(append([]byte{prefixVerified}, tree[:]...))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		n, err := removals(txn)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			at, _ := binary.Uvarint(v)
			ok = at == n
			return nil
		})
	})
	if err != nil {
		return false, fmt.Errorf("index: %w", err)
	}
	return ok, nil
}

// SetVerified records that every blob tree reaches was present at removal
// count n, and forgets records of other counts, which can no longer be
// used. It records nothing when the count is no longer n.
func (d *DB) SetVerified(tree crypto.ID, n uint64) error {
	d.remMu.Lock()
	defer d.remMu.Unlock()
	err := d.update(func(txn *badger.Txn) error {
		cur, err := removals(txn)
		if err != nil || cur != n {
			return err
		}
		var stale [][]byte
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixVerified}, PrefetchValues: true})
		for it.Rewind(); it.Valid(); it.Next() {
			_ = it.Item().Value(func(v []byte) error {
				if at, _ := binary.Uvarint(v); at != n {
					stale = append(stale, it.Item().KeyCopy(nil))
				}
				return nil
			})
		}
		it.Close()
		for _, k := range stale {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return txn.Set(append([]byte{prefixVerified}, tree[:]...), binary.AppendUvarint(nil, n))
	})
	if err != nil {
		return fmt.Errorf("index: record verified tree %s: %w", tree.Short(), err)
	}
	return nil
}
