package repo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/index"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/backend"
)

// What garbage collection (repo/prune) and repair need of the index,
// without importing it.

// IndexPack lists the blobs of one pack (index.Pack).
type IndexPack = index.Pack

// IndexFile is the content of an index file (index.File).
type IndexFile = index.File

// IndexedPacks calls fn with every pack the loaded index files list.
func (r *Repository) IndexedPacks(fn func(p IndexPack) error) error {
	return r.idx.PackEntries(func(id crypto.ID, size int64, entries []pack.Entry) error {
		return fn(IndexPack{ID: id, Size: size, Entries: entries})
	})
}

// IndexedPack returns pack id as the index lists it.
func (r *Repository) IndexedPack(id crypto.ID) (IndexPack, bool, error) {
	size, entries, ok, err := r.idx.Pack(id)
	return IndexPack{ID: id, Size: size, Entries: entries}, ok, err
}

// IndexFiles returns the loaded index files, each with the packs it lists.
func (r *Repository) IndexFiles() (map[crypto.ID][]crypto.ID, error) {
	files, err := r.idx.Files()
	if err != nil {
		return nil, err
	}
	out := make(map[crypto.ID][]crypto.ID, len(files))
	for id := range files {
		if out[id], err = r.idx.FilePacks(id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SaveIndex writes index file f, adds it to the cache and drops from the
// cache what the files it supersedes listed. The superseded files are left
// in the repository; the caller removes them once f is saved.
func (r *Repository) SaveIndex(ctx context.Context, f *IndexFile) (crypto.ID, error) {
	id, err := r.SaveFile(ctx, backend.IndexFile, crypto.KindIndex, f.Encode(nil))
	if err != nil {
		return crypto.ID{}, err
	}
	if err := r.idx.AddFile(id, f); err != nil {
		return id, err
	}
	for _, old := range f.Supersedes {
		if err := r.idx.DropFile(old, true); err != nil {
			return id, err
		}
	}
	return id, nil
}

// Usable reports whether the copy of a blob at loc is not known to be
// missing or damaged.
func (r *Repository) Usable(loc Location) bool { return r.usable(loc) }

// PackHeader reads the sealed header of pack id (of size bytes, 0 if
// unknown), for a pack no index file lists.
func (r *Repository) PackHeader(ctx context.Context, id crypto.ID, size int64) ([]pack.Entry, error) {
	if size <= 0 {
		fi, err := r.be.Stat(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()})
		if err != nil {
			return nil, fmt.Errorf("repo: pack %s: %w", id.Short(), err)
		}
		size = fi.Size
	}
	entries, _, err := r.readHeader(ctx, id, size)
	if err != nil {
		return nil, fmt.Errorf("repo: pack %s: %w", id.Short(), err)
	}
	return entries, nil
}

// RemovePack deletes pack id and forgets what the cache recorded about it.
// A pack already gone is not an error.
func (r *Repository) RemovePack(ctx context.Context, id crypto.ID) error {
	err := r.be.Remove(ctx, backend.Handle{Type: backend.PackFile, Name: id.String()})
	if err != nil && !errors.Is(err, backend.ErrNotExist) {
		return fmt.Errorf("repo: remove pack %s: %w", id.Short(), err)
	}
	return nil
}

// MaxClockSkew is how far the local clock may be from the storage's
// before prune refuses to run: its safety margin is measured in the
// storage's time.
const MaxClockSkew = 5 * time.Minute

// StorageTime returns the time the storage gave the writer's latest
// heartbeat, a clock every host shares; the local clock if the backend
// keeps no times.
func (h *Heartbeat) StorageTime(ctx context.Context) (time.Time, error) {
	id := h.Info().ID
	fi, err := h.r.be.Stat(ctx, backend.Handle{Type: backend.LockFile, Name: id.String()})
	if err != nil {
		return time.Time{}, fmt.Errorf("repo: stat the heartbeat: %w", err)
	}
	if fi.ModTime.IsZero() {
		return h.r.now(), nil
	}
	return fi.ModTime, nil
}
