package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// gone holds the dropped packs (prefixGone), whose copies blob values
	// may still list: lookups skip them, so dropping a pack costs a key,
	// not a write per blob. Collect removes them for good.
	gone atomic.Pointer[map[crypto.ID]bool]
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
	prefixBlob       = 'b' // 'b' | type | blob id -> location (pack id | entry): the primary copy
	prefixCopy       = 'c' // 'c' | type | blob id | pack id -> location: every copy of a blob with several
	prefixFile       = 'f' // 'f' | index file id -> the IDs of the packs it lists
	prefixPack       = 'p' // 'p' | pack id -> uvarint size | n × (type | flags | blob id | offset, length, rawlength u32le)
	prefixPackSize   = 'q' // 'q' | pack id -> uvarint size: what SyncPacks compares, without reading the entries
	prefixPackRef    = 'r' // 'r' | pack id | index file id -> "": the file lists the pack
	prefixSuperseded = 's' // 's' | index file id -> "": superseded, never loaded again
	prefixGone       = 'z' // 'z' | pack id -> "": dropped; its copies are ignored until Collect
	prefixDamage     = 'x' // 'x' | pack id [| type | blob id] -> reason
	prefixBadFile    = 'd' // 'd' | index file id -> reason: damaged, its packs indexed from their headers
	valueLength      = crypto.IDSize + 2 + 12
)

// cacheVersion is stored under versionKey; a cache of another version is
// rebuilt from the repository.
const cacheVersion = 6

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

// Lookup returns where blob id of type t is stored: its primary copy, or
// another when the primary's pack was dropped.
func (d *DB) Lookup(t pack.BlobType, id crypto.ID) (Location, bool, error) {
	var loc Location
	found, fallback := false, false
	err := d.db.View(func(txn *badger.Txn) error {
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
	err := d.db.View(func(txn *badger.Txn) error {
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
			if len(v) == valueLength && !d.isGone(crypto.ID(v[:crypto.IDSize])) {
				primary[k] = v
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	wb := d.db.NewWriteBatch()
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
	if err := d.db.Update(func(txn *badger.Txn) error { return txn.Set(fileKey(fileID), packIDs) }); err != nil {
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
	defer wb.Cancel()
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

// GoneCount returns the number of dropped packs whose copies blob values
// may still list.
func (d *DB) GoneCount() int { return len(*d.gone.Load()) }

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
	err := d.db.Update(func(txn *badger.Txn) error {
		return txn.Delete(append([]byte{prefixSuperseded}, fileID[:]...))
	})
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return nil
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
	empty := map[crypto.ID]bool{}
	d.gone.Store(&empty)
	return nil
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
