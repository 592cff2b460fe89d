package index

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	badger "github.com/dgraph-io/badger/v4"
)

// packEntryLength is the shortest entry in a pack's cache value: type,
// flags, ID and the entry's place.
const packEntryLength = 2 + crypto.IDSize + 12

// appendPlace appends where e lies in its pack, as the cache stores it:
// offset, length and raw length, and a group member's Inner.
func appendPlace(v []byte, e pack.Entry) []byte {
	v = binary.LittleEndian.AppendUint32(v, e.Offset)
	v = binary.LittleEndian.AppendUint32(v, e.Length)
	v = binary.LittleEndian.AppendUint32(v, e.RawLength)
	if e.Grouped() {
		v = binary.LittleEndian.AppendUint32(v, e.Inner)
	}
	return v
}

// placeLength is how many bytes appendPlace writes for an entry with
// flags.
func placeLength(flags uint8) int {
	if flags&pack.FlagGroup != 0 {
		return 16
	}
	return 12
}

// decodePlace reads what appendPlace wrote for e (whose Flags are set)
// from w, which holds placeLength(e.Flags) bytes at least.
func decodePlace(e *pack.Entry, w []byte) {
	e.Offset = binary.LittleEndian.Uint32(w)
	e.Length = binary.LittleEndian.Uint32(w[4:])
	e.RawLength = binary.LittleEndian.Uint32(w[8:])
	if e.Grouped() {
		e.Inner = binary.LittleEndian.Uint32(w[12:])
	}
}

func appendEntry(v []byte, e pack.Entry) []byte {
	v = append(v, byte(e.Type), e.Flags)
	v = append(v, e.ID[:]...)
	return appendPlace(v, e)
}

// decodePackValue decodes a pack's cache entry: its size and entries.
func decodePackValue(v []byte) (int64, []pack.Entry, error) {
	size, k := binary.Uvarint(v)
	if k <= 0 {
		return 0, nil, fmt.Errorf("index: bad pack entry in the cache")
	}
	v = v[k:]
	entries := make([]pack.Entry, 0, len(v)/packEntryLength)
	for len(v) > 0 {
		if len(v) < packEntryLength || len(v) < 2+crypto.IDSize+placeLength(v[1]) {
			return 0, nil, fmt.Errorf("index: bad pack entry in the cache")
		}
		e := pack.Entry{Type: pack.BlobType(v[0]), Flags: v[1], ID: crypto.ID(v[2 : 2+crypto.IDSize])}
		decodePlace(&e, v[2+crypto.IDSize:])
		v = v[2+crypto.IDSize+placeLength(e.Flags):]
		entries = append(entries, e)
	}
	return int64(size), entries, nil
}

// Pack returns the size and blobs of pack id as the index lists them (ok
// is false if no loaded index file lists it).
func (d *DB) Pack(id crypto.ID) (size int64, entries []pack.Entry, ok bool, err error) {
	err = d.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(packKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		ok = true
		return item.Value(func(v []byte) error {
			var err error
			size, entries, err = decodePackValue(v)
			return err
		})
	})
	if err != nil {
		return 0, nil, false, fmt.Errorf("index: pack %s: %w", id.Short(), err)
	}
	return size, entries, ok, nil
}

// HasPack reports whether pack id is listed by a loaded index file.
func (d *DB) HasPack(id crypto.ID) (bool, error) {
	found := false
	err := d.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(packSizeKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("index: lookup pack %s: %w", id.Short(), err)
	}
	return found, nil
}

// PackSize returns the size of pack id as its index file gives it (0 if
// unknown).
func (d *DB) PackSize(id crypto.ID) (int64, error) {
	var size uint64
	err := d.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(packSizeKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { size, _ = binary.Uvarint(v); return nil })
	})
	if err != nil {
		return 0, fmt.Errorf("index: lookup pack %s: %w", id.Short(), err)
	}
	return int64(size), nil
}

func packKey(id crypto.ID) []byte { return append([]byte{prefixPack}, id[:]...) }

func packSizeKey(id crypto.ID) []byte { return append([]byte{prefixPackSize}, id[:]...) }

// Packs calls fn with the ID and size of every pack the loaded index files
// list.
func (d *DB) Packs(fn func(id crypto.ID, size int64) error) error {
	return d.scan(prefixPackSize, true, func(k []byte, item *badger.Item) error {
		if len(k) != crypto.IDSize {
			return nil
		}
		var size uint64
		if err := item.Value(func(v []byte) error { size, _ = binary.Uvarint(v); return nil }); err != nil {
			return err
		}
		return fn(crypto.ID(k), int64(size))
	})
}
