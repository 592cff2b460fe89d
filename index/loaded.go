package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/arcabackup/arca/crypto"
	badger "github.com/dgraph-io/badger/v4"
)

func fileKey(id crypto.ID) []byte {
	return append([]byte{prefixFile}, id[:]...)
}

// FilePacks returns the packs loaded index file id lists (nil for a file
// not loaded, or damaged).
func (d *DB) FilePacks(id crypto.ID) ([]crypto.ID, error) {
	var out []crypto.ID
	err := d.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(fileKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			for ; len(v) >= crypto.IDSize; v = v[crypto.IDSize:] {
				out = append(out, crypto.ID(v[:crypto.IDSize]))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("index: file %s: %w", id.Short(), err)
	}
	return out, nil
}

// AddFile records the blobs of index file fileID, in blind writes. Entries
// are written before the file's marker, so a crash leaves the file
// unmarked and it is loaded again next time. A pack that a loaded index
// file lists already is only referenced again (a pack's name is the hash
// of its content, so its entries are the same).
func (d *DB) AddFile(fileID crypto.ID, f *File) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	fail := func(err error) error { return fmt.Errorf("index: add %s: %w", fileID.Short(), err) }
	var newPacks []Pack
	// Blobs indexed already (in another pack, or earlier in this file):
	// their primary copy stays, and every copy gets a copy key. A blob
	// with one copy has only its primary key.
	primary := map[string][]byte{}
	err := d.db.View(func(txn *badger.Txn) error {
		seen := map[crypto.ID]bool{}
		for _, p := range f.Packs {
			if seen[p.ID] {
				continue
			}
			seen[p.ID] = true
			if _, err := txn.Get(packKey(p.ID)); err == nil {
				continue // known: only referenced again
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			newPacks = append(newPacks, p)
		}
		var keys []string
		for _, p := range newPacks {
			for _, e := range p.Entries {
				keys = append(keys, string(blobKey(e.Type, e.ID)))
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			item, err := txn.Get([]byte(k))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			} else if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if validLocation(v) && !d.isGone(crypto.ID(v[:crypto.IDSize])) {
				primary[k] = v
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	wb := d.db.NewWriteBatch()
	defer d.wrote()
	defer wb.Cancel()
	var back []crypto.ID // dropped before, listed again
	for _, p := range newPacks {
		list := binary.AppendUvarint(make([]byte, 0, 10+len(p.Entries)*packEntryLength), uint64(p.Size))
		for _, e := range p.Entries {
			list = appendEntry(list, e)
			loc := encodeLocation(Location{Pack: p.ID, Entry: e})
			bk := blobKey(e.Type, e.ID)
			prim, dup := primary[string(bk)]
			if !dup {
				primary[string(bk)] = loc
				if err := wb.Set(bk, loc); err != nil {
					return fail(err)
				}
				continue
			}
			// A second copy: both get copy keys (the primary's again,
			// harmlessly, for a third).
			if err := wb.Set(copyKey(e.Type, e.ID, crypto.ID(prim[:crypto.IDSize])), prim); err != nil {
				return fail(err)
			}
			if err := wb.Set(copyKey(e.Type, e.ID, p.ID), loc); err != nil {
				return fail(err)
			}
		}
		if err := wb.Set(packKey(p.ID), list); err != nil {
			return fail(err)
		}
		if err := wb.Set(packSizeKey(p.ID), binary.AppendUvarint(nil, uint64(p.Size))); err != nil {
			return fail(err)
		}
		if d.isGone(p.ID) {
			back = append(back, p.ID)
			if err := wb.Delete(append([]byte{prefixGone}, p.ID[:]...)); err != nil {
				return fail(err)
			}
		}
	}
	packIDs := make([]byte, 0, len(f.Packs)*crypto.IDSize)
	for _, p := range f.Packs {
		packIDs = append(packIDs, p.ID[:]...)
		if err := wb.Set(packRefKey(p.ID, fileID), nil); err != nil {
			return fail(err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fail(err)
	}
	d.setGone(nil, back)
	// The file's marker last.
	if err := d.update(func(txn *badger.Txn) error { return txn.Set(fileKey(fileID), packIDs) }); err != nil {
		return fail(err)
	}
	return nil
}

func packRefKey(p, file crypto.ID) []byte {
	k := make([]byte, 0, 1+2*crypto.IDSize)
	k = append(k, prefixPackRef)
	k = append(k, p[:]...)
	return append(k, file[:]...)
}

// DropFile forgets index file fileID (see DropFiles).
func (d *DB) DropFile(fileID crypto.ID, superseded bool) error {
	return d.DropFiles([]crypto.ID{fileID}, superseded)
}

// DropFiles forgets index files: the files themselves, and every pack that
// no other loaded index file lists, with its copies of blobs (the pack is
// marked dropped, so lookups skip its copies; Collect rewrites the blob
// values) and any damage recorded for it. superseded records that the
// files must not be loaded again even while they still exist (a file that
// supersedes them was loaded). The packs are marked first and the files'
// markers removed last, so a crash in between leaves no copy in a dropped
// pack in use.
func (d *DB) DropFiles(ids []crypto.ID, superseded bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	fail := func(err error) error { return fmt.Errorf("index: drop index files: %w", err) }
	dropFiles := map[crypto.ID]bool{}
	for _, id := range ids {
		dropFiles[id] = true
	}
	var refKeys, delKeys [][]byte
	var dropped []crypto.ID
	seen := map[crypto.ID]bool{}
	err := d.db.View(func(txn *badger.Txn) error {
		for _, fid := range ids {
			item, err := txn.Get(fileKey(fid))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			} else if err != nil {
				return err
			}
			packs, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			for ; len(packs) >= crypto.IDSize; packs = packs[crypto.IDSize:] {
				p := crypto.ID(packs[:crypto.IDSize])
				refKeys = append(refKeys, packRefKey(p, fid))
				if seen[p] {
					continue
				}
				seen[p] = true
				listed := false
				eachKey(txn, append([]byte{prefixPackRef}, p[:]...), func(k []byte) {
					if !dropFiles[crypto.ID(k[1+crypto.IDSize:])] {
						listed = true
					}
				})
				if listed {
					continue
				}
				dropped = append(dropped, p)
				delKeys = append(delKeys, packKey(p), packSizeKey(p))
				eachKey(txn, append([]byte{prefixDamage}, p[:]...), func(k []byte) { delKeys = append(delKeys, k) })
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	wb := d.db.NewWriteBatch()
	defer d.wrote()
	defer wb.Cancel()
	if len(dropped) > 0 {
		// Blobs may leave with the packs: counted in the same batch.
		d.remMu.Lock()
		defer d.remMu.Unlock()
		if err := d.countRemoval(wb.Set); err != nil {
			return fail(err)
		}
	}
	for _, p := range dropped {
		if err := wb.Set(append([]byte{prefixGone}, p[:]...), nil); err != nil {
			return fail(err)
		}
	}
	for _, k := range delKeys {
		if err := wb.Delete(k); err != nil {
			return fail(err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fail(err)
	}
	d.setGone(dropped, nil)
	wb2 := d.db.NewWriteBatch()
	defer wb2.Cancel()
	for _, k := range refKeys {
		if err := wb2.Delete(k); err != nil {
			return fail(err)
		}
	}
	for _, fid := range ids {
		for _, k := range [][]byte{fileKey(fid), append([]byte{prefixBadFile}, fid[:]...)} {
			if err := wb2.Delete(k); err != nil {
				return fail(err)
			}
		}
		if superseded {
			if err := wb2.Set(append([]byte{prefixSuperseded}, fid[:]...), nil); err != nil {
				return fail(err)
			}
		}
	}
	if err := wb2.Flush(); err != nil {
		return fail(err)
	}
	return nil
}

// Collect removes the copies in dropped packs for good (one pass over the
// copy keys, in order), points blobs whose primary copy was dropped at
// another copy, and then forgets the dropped packs, so the cache does not
// grow with what prunes deleted.
func (d *DB) Collect() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	gone := *d.gone.Load()
	if len(gone) == 0 {
		return nil
	}
	fail := func(err error) error { return fmt.Errorf("index: collect: %w", err) }
	wb := d.db.NewWriteBatch()
	defer d.wrote()
	defer wb.Cancel()
	// Live copies by blob, for primaries that need another.
	other := map[string][]byte{}
	err := d.scan(prefixCopy, true, func(k []byte, item *badger.Item) error {
		if len(k) != 1+2*crypto.IDSize {
			return nil
		}
		bk := append([]byte{prefixBlob}, k[:1+crypto.IDSize]...)
		if gone[crypto.ID(k[1+crypto.IDSize:])] {
			return wb.Delete(append([]byte{prefixCopy}, k...))
		}
		if _, ok := other[string(bk)]; !ok {
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			other[string(bk)] = v
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	err = d.scan(prefixBlob, true, func(k []byte, item *badger.Item) error {
		return item.Value(func(v []byte) error {
			if len(v) < crypto.IDSize || !gone[crypto.ID(v[:crypto.IDSize])] {
				return nil
			}
			key := append([]byte{prefixBlob}, k...)
			if alt, ok := other[string(key)]; ok {
				return wb.Set(key, alt)
			}
			return wb.Delete(key)
		})
	})
	if err != nil {
		return fail(err)
	}
	for p := range gone {
		if err := wb.Delete(append([]byte{prefixGone}, p[:]...)); err != nil {
			return fail(err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fail(err)
	}
	empty := map[crypto.ID]bool{}
	d.gone.Store(&empty)
	return nil
}

// eachKey calls fn with a copy of every key under prefix.
func eachKey(txn *badger.Txn, prefix []byte, fn func(k []byte)) {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		fn(it.Item().KeyCopy(nil))
	}
}

// Superseded returns the index files marked superseded.
func (d *DB) Superseded() (map[crypto.ID]bool, error) {
	out := map[crypto.ID]bool{}
	err := d.scan(prefixSuperseded, false, func(k []byte, _ *badger.Item) error {
		if len(k) == crypto.IDSize {
			out[crypto.ID(k)] = true
		}
		return nil
	})
	return out, err
}

// ForgetSuperseded removes the superseded mark of a file that is gone.
func (d *DB) ForgetSuperseded(fileID crypto.ID) error {
	err := d.update(func(txn *badger.Txn) error {
		return txn.Delete(append([]byte{prefixSuperseded}, fileID[:]...))
	})
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return nil
}

// Files returns the IDs of the index files loaded into the cache.
func (d *DB) Files() (map[crypto.ID]bool, error) {
	files := make(map[crypto.ID]bool)
	err := d.scan(prefixFile, false, func(k []byte, _ *badger.Item) error {
		if len(k) == crypto.IDSize {
			files[crypto.ID(k)] = true
		}
		return nil
	})
	return files, err
}
