package repo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
)

// fileCache keeps what every command reads again, tree packs and snapshot
// files, in the cache directory, so that a second backup, ls or snapshots
// of a remote repository makes no request per tree or per snapshot. A tree
// pack is kept whole, as the repository stores it (sealed: the cache holds
// no plaintext), one file per pack rather than per tree, so a backup that
// stores thousands of trees writes a few files. Entries are checked when
// they come in (a pack must hash to its name) and on use: a tree read from
// a cached pack is authenticated with its ID like one read from the
// repository, a snapshot file must hash to its name; an entry that fails is
// removed and read from the repository instead. Entries are written to a
// temporary file and renamed, so processes can share the cache. Its size
// is bounded: a command that added entries trims the least recently used
// ones at Close until the cache holds at most maxBytes.
type fileCache struct {
	dir      string // empty: no cache
	key      *crypto.Key
	maxBytes int64
	added    atomic.Int64 // bytes written this run
}

// DefaultFileCacheBytes bounds the tree and snapshot cache of a repository.
const DefaultFileCacheBytes = 1 << 30

// touchAfter: a hit refreshes an entry's time (its place in the LRU order)
// when it is older than this.
const touchAfter = 12 * time.Hour

func (c *fileCache) enabled() bool { return c != nil && c.dir != "" }

func (c *fileCache) path(kind string, id crypto.ID) string {
	s := id.String()
	return filepath.Join(c.dir, kind, s[:2], s)
}

// get returns entry id of kind ("snapshots": a snapshot file's sealed
// bytes), checked against its name.
func (c *fileCache) get(kind string, id crypto.ID) ([]byte, bool) {
	if c == nil || c.dir == "" {
		return nil, false
	}
	p := c.path(kind, id)
	f, err := os.Open(p)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() > 64<<20 {
		return nil, false
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && fi.Size() > 0 {
		return nil, false
	}
	if crypto.Hash(data) != id {
		os.Remove(p)
		return nil, false
	}
	touch(p, fi)
	return data, true
}

// touch refreshes the time of entry p, its place in the LRU order, when
// it is older than touchAfter.
func touch(p string, fi fs.FileInfo) {
	if time.Since(fi.ModTime()) > touchAfter {
		now := time.Now()
		os.Chtimes(p, now, now)
	}
}

// add stores entry id of kind ("snapshots", or "packs": a tree pack),
// read from src, unless the cache holds it. It is written to a temporary
// file, renamed once its bytes hash to id. add reports whether the cache
// holds the entry afterwards: false when src fails or does not match id.
// Failures only cost a later read from the repository.
func (c *fileCache) add(kind string, id crypto.ID, src io.Reader) bool {
	if c == nil || c.dir == "" {
		return false
	}
	p := c.path(kind, id)
	if _, err := os.Stat(p); err == nil {
		return true
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(p), ".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		if os.MkdirAll(filepath.Dir(p), 0o700) == nil {
			f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	if err != nil {
		return false
	}
	h := crypto.NewFileHasher()
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && h.Sum() != id {
		err = errors.New("content does not match its name")
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return false
	}
	c.added.Add(n)
	return true
}

// readTree reads the tree at loc from its cached pack, appended to dst,
// authenticated under its ID as a read from the repository is. A pack
// that is cached but fails (short, or the tree does not open) is removed.
func (c *fileCache) readTree(loc Location, dst []byte) ([]byte, bool) {
	if c == nil || c.dir == "" {
		return nil, false
	}
	p := c.path("packs", loc.Pack)
	f, err := os.Open(p)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	sealed := make([]byte, loc.Entry.Length)
	if _, err := f.ReadAt(sealed, int64(loc.Entry.Offset)); err != nil {
		os.Remove(p)
		return nil, false
	}
	out, err := pack.OpenBlob(c.key, nil, loc.Entry, sealed, dst)
	if err != nil {
		os.Remove(p)
		return nil, false
	}
	if fi, err := f.Stat(); err == nil {
		touch(p, fi)
	}
	return out, true
}

// dropLegacy removes the per-tree entries an earlier arca kept under
// trees/ (sealed tree blobs, one file each); trees are now read from
// cached packs.
func (c *fileCache) dropLegacy() {
	os.RemoveAll(filepath.Join(c.dir, "trees"))
}

// trim removes the least recently used entries (and temporary files left
// by killed runs) until the cache holds at most maxBytes. It runs only
// after a run that added entries.
func (c *fileCache) trim() {
	if c == nil || c.dir == "" || c.added.Load() == 0 {
		return
	}
	type entry struct {
		path string
		size int64
		t    time.Time
	}
	var all []entry
	var total int64
	for _, kind := range []string{"packs", "snapshots"} {
		filepath.WalkDir(filepath.Join(c.dir, kind), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".tmp-") {
				if time.Since(fi.ModTime()) > time.Hour {
					os.Remove(p)
				}
				return nil
			}
			all = append(all, entry{p, fi.Size(), fi.ModTime()})
			total += fi.Size()
			return nil
		})
	}
	if total <= c.maxBytes {
		return
	}
	slices.SortFunc(all, func(a, b entry) int { return a.t.Compare(b.t) })
	for _, e := range all {
		if total <= c.maxBytes {
			break
		}
		if os.Remove(e.path) == nil {
			total -= e.size
		}
	}
}
