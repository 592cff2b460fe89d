package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

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
	mu  sync.Mutex // serializes changes of blob entries (read, merge, write)
}

// ErrLocked is returned by OpenDB when another process holds the cache.
var ErrLocked = errors.New("index: cache directory is in use by another process")

// Key prefixes. A blob's value lists every known copy, so that a reader
// falls back to another when one is missing or damaged; the pack and file
// keys let the cache drop exactly what an index file listed when the file
// is superseded or vanishes.
const (
	prefixBlob       = 'b' // 'b' | type | blob id -> n × location (pack id | entry)
	prefixFile       = 'f' // 'f' | index file id -> the IDs of the packs it lists
	prefixPack       = 'p' // 'p' | pack id -> uvarint size | n × (type | flags | blob id | offset, length, rawlength u32le)
	prefixPackRef    = 'r' // 'r' | pack id | index file id -> "": the file lists the pack
	prefixSuperseded = 's' // 's' | index file id -> "": superseded, never loaded again
	prefixDamage     = 'x' // 'x' | pack id [| type | blob id] -> reason
	prefixBadFile    = 'd' // 'd' | index file id -> reason: damaged, its packs indexed from their headers
	valueLength      = crypto.IDSize + 2 + 12
)

// cacheVersion is stored under versionKey; a cache of another version is
// rebuilt from the repository.
const cacheVersion = 3

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
	err := d.db.Update(func(txn *badger.Txn) error {
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

const packEntryLength = 2 + crypto.IDSize + 12

func appendEntry(v []byte, e pack.Entry) []byte {
	v = append(v, byte(e.Type), e.Flags)
	v = append(v, e.ID[:]...)
	v = binary.LittleEndian.AppendUint32(v, e.Offset)
	v = binary.LittleEndian.AppendUint32(v, e.Length)
	return binary.LittleEndian.AppendUint32(v, e.RawLength)
}

// decodePackValue decodes a pack's cache entry: its size and entries.
func decodePackValue(v []byte) (int64, []pack.Entry, error) {
	size, k := binary.Uvarint(v)
	if k <= 0 || (len(v)-k)%packEntryLength != 0 {
		return 0, nil, fmt.Errorf("index: bad pack entry in the cache")
	}
	v = v[k:]
	entries := make([]pack.Entry, 0, len(v)/packEntryLength)
	for ; len(v) > 0; v = v[packEntryLength:] {
		e := pack.Entry{Type: pack.BlobType(v[0]), Flags: v[1], ID: crypto.ID(v[2 : 2+crypto.IDSize])}
		w := v[2+crypto.IDSize:]
		e.Offset = binary.LittleEndian.Uint32(w)
		e.Length = binary.LittleEndian.Uint32(w[4:])
		e.RawLength = binary.LittleEndian.Uint32(w[8:])
		entries = append(entries, e)
	}
	return int64(size), entries, nil
}

// PackEntries calls fn with the ID, size and blobs of every pack the
// loaded index files list.
func (d *DB) PackEntries(fn func(id crypto.ID, size int64, entries []pack.Entry) error) error {
	return d.scan(prefixPack, true, func(k []byte, item *badger.Item) error {
		if len(k) != crypto.IDSize {
			return nil
		}
		var size int64
		var entries []pack.Entry
		err := item.Value(func(v []byte) error {
			var err error
			size, entries, err = decodePackValue(v)
			return err
		})
		if err != nil {
			return err
		}
		return fn(crypto.ID(k), size, entries)
	})
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

// Lookup returns where blob id of type t is stored: the first of its
// known copies (see LookupAll).
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
			if len(v) < valueLength {
				return fmt.Errorf("index: cache entry for %s has %d bytes", id.Short(), len(v))
			}
			var err error
			loc, err = decodeLocation(id, v[:valueLength])
			found = err == nil
			return err
		})
	})
	if err != nil {
		return Location{}, false, fmt.Errorf("index: lookup %s: %w", id.Short(), err)
	}
	return loc, found, nil
}

// LookupAll returns every known copy of blob id of type t, in the order
// they were indexed.
func (d *DB) LookupAll(t pack.BlobType, id crypto.ID) ([]Location, error) {
	var locs []Location
	err := d.db.View(func(txn *badger.Txn) error {
		var err error
		locs, err = getLocations(txn, t, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("index: lookup %s: %w", id.Short(), err)
	}
	return locs, nil
}

func getLocations(txn *badger.Txn, t pack.BlobType, id crypto.ID) ([]Location, error) {
	item, err := txn.Get(blobKey(t, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var locs []Location
	err = item.Value(func(v []byte) error {
		if len(v)%valueLength != 0 {
			return fmt.Errorf("index: cache entry for %s has %d bytes", id.Short(), len(v))
		}
		for ; len(v) > 0; v = v[valueLength:] {
			l, err := decodeLocation(id, v[:valueLength])
			if err != nil {
				return err
			}
			locs = append(locs, l)
		}
		return nil
	})
	return locs, err
}

func encodeLocations(locs []Location) []byte {
	v := make([]byte, 0, len(locs)*valueLength)
	for _, l := range locs {
		v = append(v, encodeLocation(l)...)
	}
	return v
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
// loaded again next time. A pack that an index file already loaded lists
// is only referenced again (a pack's name is the hash of its content, so
// its entries are the same).
func (d *DB) AddFile(fileID crypto.ID, f *File) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	tx := d.newBatch()
	defer tx.discard()
	packIDs := make([]byte, 0, len(f.Packs)*crypto.IDSize)
	for _, p := range f.Packs {
		packIDs = append(packIDs, p.ID[:]...)
		known, err := tx.exists(packKey(p.ID))
		if err != nil {
			return fmt.Errorf("index: add %s: %w", fileID.Short(), err)
		}
		if !known {
			if err := tx.addPack(p); err != nil {
				return fmt.Errorf("index: add %s: %w", fileID.Short(), err)
			}
		}
		if err := tx.set(packRefKey(p.ID, fileID), nil); err != nil {
			return fmt.Errorf("index: add %s: %w", fileID.Short(), err)
		}
	}
	if err := tx.set(fileKey(fileID), packIDs); err != nil {
		return fmt.Errorf("index: add %s: %w", fileID.Short(), err)
	}
	if err := tx.commit(); err != nil {
		return fmt.Errorf("index: add %s: %w", fileID.Short(), err)
	}
	return nil
}

func packRefKey(p, file crypto.ID) []byte {
	k := make([]byte, 0, 1+2*crypto.IDSize)
	k = append(k, prefixPackRef)
	k = append(k, p[:]...)
	return append(k, file[:]...)
}

// addPack records a pack's size and blob list and adds it to the copies of
// each of its blobs.
func (tx *batch) addPack(p Pack) error {
	list := binary.AppendUvarint(nil, uint64(p.Size))
	for _, e := range p.Entries {
		list = appendEntry(list, e)
		locs, err := getLocations(tx.txn, e.Type, e.ID)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(locs, func(l Location) bool { return l.Pack == p.ID }) {
			continue
		}
		locs = append(locs, Location{Pack: p.ID, Entry: e})
		if err := tx.set(blobKey(e.Type, e.ID), encodeLocations(locs)); err != nil {
			return err
		}
	}
	return tx.set(packKey(p.ID), list)
}

// DropFile forgets index file fileID: the file itself, and every pack that
// no other loaded index file lists, with those packs' copies of blobs and
// any damage recorded for them. superseded records that the file must not
// be loaded again even while it still exists (a file that supersedes it
// was loaded).
func (d *DB) DropFile(fileID crypto.ID, superseded bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	tx := d.newBatch()
	defer tx.discard()
	var packs []byte
	item, err := tx.txn.Get(fileKey(fileID))
	if err == nil {
		packs, err = item.ValueCopy(nil)
	}
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("index: drop %s: %w", fileID.Short(), err)
	}
	for ; len(packs) >= crypto.IDSize; packs = packs[crypto.IDSize:] {
		p := crypto.ID(packs[:crypto.IDSize])
		if err := tx.del(packRefKey(p, fileID)); err != nil {
			return fmt.Errorf("index: drop %s: %w", fileID.Short(), err)
		}
		listed, err := tx.anyWithPrefix(append([]byte{prefixPackRef}, p[:]...))
		if err != nil {
			return fmt.Errorf("index: drop %s: %w", fileID.Short(), err)
		}
		if !listed {
			if err := tx.dropPack(p); err != nil {
				return fmt.Errorf("index: drop %s: pack %s: %w", fileID.Short(), p.Short(), err)
			}
		}
	}
	for _, k := range [][]byte{fileKey(fileID), append([]byte{prefixBadFile}, fileID[:]...)} {
		if err := tx.del(k); err != nil {
			return fmt.Errorf("index: drop %s: %w", fileID.Short(), err)
		}
	}
	if superseded {
		if err := tx.set(append([]byte{prefixSuperseded}, fileID[:]...), nil); err != nil {
			return fmt.Errorf("index: drop %s: %w", fileID.Short(), err)
		}
	}
	if err := tx.commit(); err != nil {
		return fmt.Errorf("index: drop %s: %w", fileID.Short(), err)
	}
	return nil
}

// dropPack removes pack p and its copies of blobs.
func (tx *batch) dropPack(p crypto.ID) error {
	item, err := tx.txn.Get(packKey(p))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	list, err := item.ValueCopy(nil)
	if err != nil {
		return err
	}
	_, entries, err := decodePackValue(list)
	if err != nil {
		return err
	}
	for _, e := range entries {
		locs, err := getLocations(tx.txn, e.Type, e.ID)
		if err != nil {
			return err
		}
		locs = slices.DeleteFunc(locs, func(l Location) bool { return l.Pack == p })
		if len(locs) == 0 {
			err = tx.del(blobKey(e.Type, e.ID))
		} else {
			err = tx.set(blobKey(e.Type, e.ID), encodeLocations(locs))
		}
		if err != nil {
			return err
		}
	}
	if err := tx.del(packKey(p)); err != nil {
		return err
	}
	// Damage recorded for the pack or its blobs.
	var keys [][]byte
	if err := tx.keysWithPrefix(append([]byte{prefixDamage}, p[:]...), func(k []byte) { keys = append(keys, k) }); err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.del(k); err != nil {
			return err
		}
	}
	return nil
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
	err := d.db.Update(func(txn *badger.Txn) error {
		return txn.Delete(append([]byte{prefixSuperseded}, fileID[:]...))
	})
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return nil
}

// batch is a read-write transaction that commits and starts afresh when it
// grows too big for one badger transaction; it reads its own writes.
type batch struct {
	db  *badger.DB
	txn *badger.Txn
}

func (d *DB) newBatch() *batch { return &batch{db: d.db, txn: d.db.NewTransaction(true)} }

func (tx *batch) set(k, v []byte) error {
	err := tx.txn.Set(k, v)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err = tx.renew(); err == nil {
			err = tx.txn.Set(k, v)
		}
	}
	return err
}

func (tx *batch) del(k []byte) error {
	err := tx.txn.Delete(k)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err = tx.renew(); err == nil {
			err = tx.txn.Delete(k)
		}
	}
	return err
}

func (tx *batch) renew() error {
	if err := tx.txn.Commit(); err != nil {
		return err
	}
	tx.txn = tx.db.NewTransaction(true)
	return nil
}

func (tx *batch) commit() error { return tx.txn.Commit() }

func (tx *batch) discard() { tx.txn.Discard() }

func (tx *batch) exists(k []byte) (bool, error) {
	_, err := tx.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (tx *batch) anyWithPrefix(prefix []byte) (bool, error) {
	found := false
	err := tx.keysWithPrefix(prefix, func([]byte) { found = true })
	return found, err
}

func (tx *batch) keysWithPrefix(prefix []byte, fn func(k []byte)) error {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := tx.txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		fn(it.Item().KeyCopy(nil))
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
