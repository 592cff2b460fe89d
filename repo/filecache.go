package repo

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/arcabackup/arca/crypto"
)

// fileCache keeps what every command reads again, tree blobs and snapshot
// files, in the cache directory, so that a second backup, ls or snapshots
// of a remote repository makes no request per tree or per snapshot. Trees
// are kept sealed under the master key (the cache holds no plaintext), and
// every entry is verified on use: a tree must open under the key and hash
// to its ID, a snapshot file to its name; one that does not is removed and
// read from the repository instead. Entries are written to a temporary file
// and renamed, so processes can share the cache. Its size is bounded: a
// command that added entries trims the least recently used ones at Close
// until the cache holds at most maxBytes.
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

// get returns the cached content of id: a tree's plaintext (kind "trees")
// or a snapshot file's sealed bytes (kind "snapshots").
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
	out, ok := c.verify(kind, id, data)
	if !ok {
		os.Remove(p)
		return nil, false
	}
	if time.Since(fi.ModTime()) > touchAfter {
		now := time.Now()
		os.Chtimes(p, now, now)
	}
	return out, true
}

func (c *fileCache) verify(kind string, id crypto.ID, data []byte) ([]byte, bool) {
	if kind == "snapshots" {
		return data, crypto.Hash(data) == id
	}
	plain, err := OpenFile(c.key, crypto.KindTreeBlob, data)
	if err != nil || c.key.BlobID(plain) != id {
		return nil, false
	}
	return plain, true
}

// put stores content under id; a tree's plaintext is sealed first.
// Failures only cost a later read from the repository.
func (c *fileCache) put(kind string, id crypto.ID, content []byte) {
	if c == nil || c.dir == "" {
		return
	}
	p := c.path(kind, id)
	if _, err := os.Stat(p); err == nil {
		return
	}
	data := content
	if kind == "trees" {
		var err error
		if data, err = SealFile(c.key, crypto.KindTreeBlob, content); err != nil {
			return
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(p), ".tmp-"+hex.EncodeToString(rnd[:]))
	err := os.WriteFile(tmp, data, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		if os.MkdirAll(filepath.Dir(p), 0o700) == nil {
			err = os.WriteFile(tmp, data, 0o600)
		}
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return
	}
	c.added.Add(int64(len(data)))
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
	for _, kind := range []string{"trees", "snapshots"} {
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
