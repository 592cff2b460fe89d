package index

import (
	"errors"
	"fmt"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	badger "github.com/dgraph-io/badger/v4"
)

// Damage is a pack, or one blob in it, found missing or damaged.
type Damage struct {
	Pack crypto.ID
	// Type and Blob name the blob; Type is 0 when the whole pack is
	// damaged or missing.
	Type   pack.BlobType
	Blob   crypto.ID
	Reason string
}

func damageKey(dm Damage) []byte {
	k := append([]byte{prefixDamage}, dm.Pack[:]...)
	if dm.Type != 0 {
		k = append(k, byte(dm.Type))
		k = append(k, dm.Blob[:]...)
	}
	return k
}

// MarkDamaged records damage, so that it outlives the process.
func (d *DB) MarkDamaged(dm Damage) error {
	d.remMu.Lock()
	defer d.remMu.Unlock()
	err := d.update(func(txn *badger.Txn) error {
		if err := d.countRemoval(txn.Set); err != nil {
			return err
		}
		return txn.Set(damageKey(dm), []byte(dm.Reason))
	})
	if err != nil {
		return fmt.Errorf("index: mark pack %s damaged: %w", dm.Pack.Short(), err)
	}
	return nil
}

// ClearDamaged forgets the damage recorded for a pack (not its blobs'),
// when it turns out to be present after all.
func (d *DB) ClearDamaged(id crypto.ID) error {
	err := d.update(func(txn *badger.Txn) error { return txn.Delete(damageKey(Damage{Pack: id})) })
	if err != nil {
		return fmt.Errorf("index: clear damage of pack %s: %w", id.Short(), err)
	}
	return nil
}

// Damaged returns the recorded damage.
func (d *DB) Damaged() ([]Damage, error) {
	var out []Damage
	err := d.scan(prefixDamage, true, func(k []byte, item *badger.Item) error {
		var dm Damage
		switch len(k) {
		case crypto.IDSize:
		case 2*crypto.IDSize + 1:
			dm.Type = pack.BlobType(k[crypto.IDSize])
			dm.Blob = crypto.ID(k[crypto.IDSize+1:])
		default:
			return nil
		}
		dm.Pack = crypto.ID(k[:crypto.IDSize])
		v, err := item.ValueCopy(nil)
		dm.Reason = string(v)
		out = append(out, dm)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("index: damage: %w", err)
	}
	return out, nil
}

// MarkFileDamaged records that index file id could not be read and that
// the packs it may have listed were indexed from their own headers; it is
// counted as loaded.
func (d *DB) MarkFileDamaged(id crypto.ID, reason string) error {
	err := d.update(func(txn *badger.Txn) error {
		if err := txn.Set(append([]byte{prefixBadFile}, id[:]...), []byte(reason)); err != nil {
			return err
		}
		if _, err := txn.Get(fileKey(id)); !errors.Is(err, badger.ErrKeyNotFound) {
			return err // loaded already: keep the packs it holds
		}
		return txn.Set(fileKey(id), nil)
	})
	if err != nil {
		return fmt.Errorf("index: mark index file %s damaged: %w", id.Short(), err)
	}
	return nil
}

// DamagedFiles returns the index files marked damaged, with the reasons.
func (d *DB) DamagedFiles() (map[crypto.ID]string, error) {
	out := map[crypto.ID]string{}
	err := d.scan(prefixBadFile, true, func(k []byte, item *badger.Item) error {
		if len(k) != crypto.IDSize {
			return nil
		}
		v, err := item.ValueCopy(nil)
		out[crypto.ID(k)] = string(v)
		return err
	})
	return out, err
}
