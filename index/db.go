package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arcabackup/arca/crypto"
	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// DB caches blob locations on local disk. Its memory use is bounded by the
// options below, whatever the repository's size. A DB is safe for
// concurrent use.
type DB struct {
	db  *badger.DB
	dir string
	mu  sync.Mutex // serializes changes of blob entries (read, merge, write)
	// gone holds the dropped packs (prefixGone), whose copies blob values
	// may still list: lookups skip them, so dropping a pack costs a key,
	// not a write per blob. Collect removes them for good.
	gone atomic.Pointer[map[crypto.ID]bool]
	// remMu serializes increments of the removal count (verified.go).
	remMu   sync.Mutex
	readers readers // read transactions shared by lookups (reader.go)
}

// ErrLocked is returned by OpenDB when another process holds the cache.
var ErrLocked = errors.New("index: cache directory is in use by another process")

// Key prefixes. A blob has a primary location; a blob with several copies
// also has a key per copy. Loading an index file reads only to find blobs
// indexed already, a lookup is one read, and another copy is found by a
// short scan when the primary's pack is missing, damaged or dropped. The
// pack and file keys let the cache drop exactly what an index file listed
// when the file is superseded or vanishes.
const (
	prefixBlob       = 'b'                    // 'b' | type | blob id -> location (pack id | entry): the primary copy
	prefixCopy       = 'c'                    // 'c' | type | blob id | pack id -> location: every copy of a blob with several
	prefixFile       = 'f'                    // 'f' | index file id -> the IDs of the packs it lists
	prefixPack       = 'p'                    // 'p' | pack id -> uvarint size | n × (type | flags | blob id | offset, length, rawlength [, inner for FlagGroup] u32le)
	prefixPackSize   = 'q'                    // 'q' | pack id -> uvarint size: what SyncPacks compares, without reading the entries
	prefixPackRef    = 'r'                    // 'r' | pack id | index file id -> "": the file lists the pack
	prefixSuperseded = 's'                    // 's' | index file id -> "": superseded, never loaded again
	prefixGone       = 'z'                    // 'z' | pack id -> "": dropped; its copies are ignored until Collect
	prefixDamage     = 'x'                    // 'x' | pack id [| type | blob id] -> reason
	prefixBadFile    = 'd'                    // 'd' | index file id -> reason: damaged, its packs indexed from their headers
	prefixRemovals   = 'k'                    // 'k' -> uvarint: how many changes could have removed a blob (verified.go)
	prefixVerified   = 't'                    // 't' | tree id -> uvarint removal count at which every blob the tree reaches was present
	valueLength      = crypto.IDSize + 2 + 12 // + 4 for a member of a group (its Inner)
)

// cacheVersion is stored under versionKey; a cache of another version is
// rebuilt from the repository.
const cacheVersion = 8

// Keys of single values begin with letters no prefix above uses.
var (
	versionKey  = []byte("version")
	lastSyncKey = []byte("lastsync")
)

// LastSync returns when SetLastSync was last called (zero if never).
func (d *DB) LastSync() (time.Time, error) {
	var t time.Time
	err := d.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(lastSyncKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			n, _ := binary.Varint(v)
			t = time.Unix(0, n)
			return nil
		})
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("index: %w", err)
	}
	return t, nil
}

// SetLastSync records when the packs of the repository were last compared
// with the index.
func (d *DB) SetLastSync(t time.Time) error {
	err := d.update(func(txn *badger.Txn) error {
		return txn.Set(lastSyncKey, binary.AppendVarint(nil, t.UnixNano()))
	})
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return nil
}

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
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithValueThreshold(1 << 10).
		WithValueLogFileSize(64 << 20).
		WithBaseTableSize(2 << 20).
		WithNumCompactors(2).
		WithCompression(options.None).
		WithDetectConflicts(false).
		WithSyncWrites(false).
		WithMetricsEnabled(false)
	db, err := badger.Open(opts)
	if err != nil {
		if isLockErr(err) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("index: open cache %s: %w", dir, err)
	}
	d := &DB{db: db, dir: dir}
	d.readers.init()
	if err := d.checkVersion(); err != nil {
		db.Close()
		return nil, err
	}
	if err := d.loadGone(); err != nil {
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
func (d *DB) Close() error {
	d.closeReaders()
	return d.db.Close()
}

// Dir returns the cache directory.
func (d *DB) Dir() string { return d.dir }

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
	defer d.wrote()
	if err := d.db.DropAll(); err != nil {
		return fmt.Errorf("index: reset cache: %w", err)
	}
	err := d.update(func(txn *badger.Txn) error {
		return txn.Set(versionKey, binary.AppendUvarint(nil, cacheVersion))
	})
	if err != nil {
		return fmt.Errorf("index: reset cache: %w", err)
	}
	empty := map[crypto.ID]bool{}
	d.gone.Store(&empty)
	return nil
}
