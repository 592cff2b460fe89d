package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Location says where a blob is stored.
type Location struct {
	Pack  crypto.ID
	Entry pack.Entry
}

// DB caches blob locations on local disk. Its memory use is bounded by the
// options below, whatever the repository's size. A DB is safe for
// concurrent use.
type DB struct {
	db  *badger.DB
	dir string
}

// ErrLocked is returned by OpenDB when another process holds the cache.
var ErrLocked = errors.New("index: cache directory is in use by another process")

// Key prefixes.
const (
	prefixBlob    = 'b' // 'b' | type | blob id -> location
	prefixFile    = 'f' // 'f' | index file id -> ""
	prefixPack    = 'p' // 'p' | pack id -> uvarint size
	prefixDamage  = 'x' // 'x' | pack id [| type | blob id] -> reason
	prefixBadFile = 'd' // 'd' | index file id -> reason: damaged, its packs indexed from their headers
	valueLength   = crypto.IDSize + 2 + 12
)

// cacheVersion is stored under versionKey; a cache of another version is
// rebuilt from the repository.
const cacheVersion = 2

var versionKey = []byte("version")

// OpenDB opens or creates the cache in dir.
func OpenDB(dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("index: create cache %s: %w", dir, err)
	}
	opts := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithMemTableSize(4 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBlockCacheSize(4 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueThreshold(1 << 10).
		WithValueLogFileSize(64 << 20).
		WithBaseTableSize(2 << 20).
		WithNumCompactors(2).
		WithCompression(options.None).
		WithDetectConflicts(false).
		WithSyncWrites(false)
	db, err := badger.Open(opts)
	if err != nil {
		if isLockErr(err) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("index: open cache %s: %w", dir, err)
	}
	d := &DB{db: db, dir: dir}
	if err := d.checkVersion(); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// checkVersion empties a cache written by another version of arca.
func (d *DB) checkVersion() error {
	var v uint64
	err := d.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(versionKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			v, _ = binary.Uvarint(b)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("index: open cache %s: %w", d.dir, err)
	}
	if v == cacheVersion {
		return nil
	}
	return d.Reset()
}

func isLockErr(err error) bool {
	// badger reports a held directory lock only as text.
	msg := err.Error()
	for _, s := range []string{"Cannot acquire directory lock", "resource temporarily unavailable"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Close flushes and closes the cache.
func (d *DB) Close() error { return d.db.Close() }

// Dir returns the cache directory.
func (d *DB) Dir() string { return d.dir }

func blobKey(t pack.BlobType, id crypto.ID) []byte {
	k := make([]byte, 2+crypto.IDSize)
	k[0], k[1] = prefixBlob, byte(t)
	copy(k[2:], id[:])
	return k
}

func fileKey(id crypto.ID) []byte {
	return append([]byte{prefixFile}, id[:]...)
}

func encodeLocation(l Location) []byte {
	v := make([]byte, 0, valueLength)
	v = append(v, l.Pack[:]...)
	v = append(v, byte(l.Entry.Type), l.Entry.Flags)
	v = binary.LittleEndian.AppendUint32(v, l.Entry.Offset)
	v = binary.LittleEndian.AppendUint32(v, l.Entry.Length)
	v = binary.LittleEndian.AppendUint32(v, l.Entry.RawLength)
	return v
}

func decodeLocation(id crypto.ID, v []byte) (Location, error) {
	if len(v) != valueLength {
		return Location{}, fmt.Errorf("index: cache entry for %s has %d bytes", id.Short(), len(v))
	}
	var l Location
	copy(l.Pack[:], v)
	v = v[crypto.IDSize:]
	l.Entry = pack.Entry{
		Type: pack.BlobType(v[0]), Flags: v[1], ID: id,
		Offset:    binary.LittleEndian.Uint32(v[2:]),
		Length:    binary.LittleEndian.Uint32(v[6:]),
		RawLength: binary.LittleEndian.Uint32(v[10:]),
	}
	return l, nil
}

// Lookup returns where blob id of type t is stored.
func (d *DB) Lookup(t pack.BlobType, id crypto.ID) (Location, bool, error) {
	var loc Location
	found := false
	err := d.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(blobKey(t, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			var err error
			loc, err = decodeLocation(id, v)
			found = err == nil
			return err
		})
	})
	if err != nil {
		return Location{}, false, fmt.Errorf("index: lookup %s: %w", id.Short(), err)
	}
	return loc, found, nil
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
			if strings.HasPrefix(id.String(), prefix) {
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

// AddFile records the blobs of index file fileID. Entries are written
// before the file's marker, so a crash leaves the file unmarked and it is
// loaded again next time.
func (d *DB) AddFile(fileID crypto.ID, f *File) error {
	wb := d.db.NewWriteBatch()
	defer wb.Cancel()
	for _, p := range f.Packs {
		if err := wb.Set(packKey(p.ID), binary.AppendUvarint(nil, uint64(p.Size))); err != nil {
			return fmt.Errorf("index: add %s: %w", fileID.Short(), err)
		}
		for _, e := range p.Entries {
			if err := wb.Set(blobKey(e.Type, e.ID), encodeLocation(Location{Pack: p.ID, Entry: e})); err != nil {
				return fmt.Errorf("index: add %s: %w", fileID.Short(), err)
			}
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("index: add %s: %w", fileID.Short(), err)
	}
	err := d.db.Update(func(txn *badger.Txn) error { return txn.Set(fileKey(fileID), nil) })
	if err != nil {
		return fmt.Errorf("index: mark %s: %w", fileID.Short(), err)
	}
	return nil
}

// HasPack reports whether pack id is listed by a loaded index file.
func (d *DB) HasPack(id crypto.ID) (bool, error) {
	found := false
	err := d.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(packKey(id))
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
		item, err := txn.Get(packKey(id))
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

// scan calls fn with the key (without its prefix byte) and the item of
// every entry under prefix; values says whether to prefetch values.
func (d *DB) scan(prefix byte, values bool, fn func(k []byte, item *badger.Item) error) error {
	return d.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = values
		opts.Prefix = []byte{prefix}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := fn(it.Item().Key()[1:], it.Item()); err != nil {
				return err
			}
		}
		return nil
	})
}

// Reset drops everything, for a rebuild.
func (d *DB) Reset() error {
	if err := d.db.DropAll(); err != nil {
		return fmt.Errorf("index: reset cache: %w", err)
	}
	err := d.db.Update(func(txn *badger.Txn) error {
		return txn.Set(versionKey, binary.AppendUvarint(nil, cacheVersion))
	})
	if err != nil {
		return fmt.Errorf("index: reset cache: %w", err)
	}
	return nil
}

func packKey(id crypto.ID) []byte { return append([]byte{prefixPack}, id[:]...) }

// Packs calls fn with the ID and size of every pack the loaded index files
// list.
func (d *DB) Packs(fn func(id crypto.ID, size int64) error) error {
	return d.scan(prefixPack, true, func(k []byte, item *badger.Item) error {
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

// Count returns the number of indexed blobs (it iterates keys only).
func (d *DB) Count() (int, error) {
	n := 0
	err := d.scan(prefixBlob, false, func([]byte, *badger.Item) error { n++; return nil })
	return n, err
}
