package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/index"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/backend"
	"golang.org/x/sync/errgroup"
)

// ListPacks lists the pack files of the repository with their sizes.
// Names that are not IDs are left out.
func (r *Repository) ListPacks(ctx context.Context) (map[crypto.ID]int64, error) {
	packs := map[crypto.ID]int64{}
	err := r.be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
		if id, err := crypto.ParseID(fi.Name); err == nil {
			packs[id] = fi.Size
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repo: list packs: %w", err)
	}
	return packs, nil
}

// SyncPacks compares the packs in the repository with those the index
// lists, at the start of a write session. A pack the index lists that is
// missing, or whose size differs from the index's, is taken out of
// deduplication (reported through Warn), so that the session stores its
// blobs again and the new snapshot is complete. Packs that are in no
// index file (those of a session killed before its next checkpoint) are
// indexed from their own sealed headers, so the session reuses them
// instead of uploading them again. A pack that another host is writing
// right now may be indexed twice; duplicate index entries are harmless.
// Packs in a candidate list (ReadCandidates) are left alone either way:
// a prune has taken them out of the index, or is about to, and will
// delete them. A writer calls it after announcing itself, which brought
// the cache up to date with index files a prune replaced.
func (r *Repository) SyncPacks(ctx context.Context) error {
	r.removeStale(ctx)
	packs, err := r.ListPacks(ctx)
	if err != nil {
		return err
	}
	start := r.now()
	for id := range packs {
		if r.cands.has(id) {
			delete(packs, id)
		}
	}
	err = r.idx.Packs(func(id crypto.ID, size int64) error {
		got, ok := packs[id]
		switch {
		case r.cands.has(id):
		case !ok:
			r.markDamaged(id, 0, crypto.ID{}, reasonMissing)
			r.Warn(fmt.Sprintf("pack %s is missing from the repository: its blobs will be stored again when their files are backed up", id.Short()))
		case size != 0 && got != size:
			r.markDamaged(id, 0, crypto.ID{}, reasonDamaged)
			r.Warn(fmt.Sprintf("pack %s has %d bytes, its index says %d: its blobs will be stored again when their files are backed up", id.Short(), got, size))
		default:
			r.packPresent(id)
		}
		delete(packs, id) // what is left is in no index
		return nil
	})
	if err != nil {
		return fmt.Errorf("repo: %w", err)
	}
	if len(packs) > 0 {
		f, err := r.indexFromHeaders(ctx, packs)
		if err != nil {
			return err
		}
		if len(f.Packs) > 0 {
			id, err := r.SaveFile(ctx, backend.IndexFile, crypto.KindIndex, f.Encode(nil))
			if err != nil {
				return err
			}
			if err := r.idx.AddFile(id, f); err != nil {
				return err
			}
		}
	}
	return r.idx.SetLastSync(start)
}

// PackSyncInterval is how often a write session compares a remote
// repository's packs with the index when nothing calls for it sooner.
const PackSyncInterval = 24 * time.Hour

// PackSyncDue says whether a write session should run SyncPacks: after
// an unclean session (a heartbeat left by a writer that is gone, seen
// when this process announced itself), when this cache has not compared
// for PackSyncInterval, and always for a backend whose listing is cheap
// (a local directory: one directory read per pack subdirectory).
func (r *Repository) PackSyncDue() bool {
	if r.sawStale.Load() {
		return true
	}
	if c, ok := backend.Ability[backend.CheapLister](r.be); ok && c.CheapList() {
		return true
	}
	last, err := r.idx.LastSync()
	return err != nil || r.now().Sub(last) >= PackSyncInterval
}

// StaleAge is how old a temporary file of a write session must be before
// the next session takes it for the leftover of a killed one and removes
// it: far longer than any save takes, and harmless if wrong (a save whose
// temporary file vanished fails rather than store something partial).
const StaleAge = time.Hour

// privateCachePrefix starts the names of private caches in the temporary
// directory.
const privateCachePrefix = "arca-cache-"

// removeStale removes what killed writers left: temporary files of saves
// in the backend, and private caches in the temporary directory that no
// process holds. Failures are reported, never fatal.
func (r *Repository) removeStale(ctx context.Context) {
	cutoff := r.now().Add(-StaleAge)
	if c, ok := backend.Ability[backend.TempCleaner](r.be); ok {
		if _, err := c.CleanTemp(ctx, cutoff); err != nil && ctx.Err() == nil {
			r.Warn(fmt.Sprintf("removing stale temporary files: %v", err))
		}
	}
	if _, err := index.RemoveStale(os.TempDir(), privateCachePrefix, cutoff); err != nil {
		r.Warn(fmt.Sprintf("removing stale private caches: %v", err))
	}
}

// indexFromHeaders reads the sealed headers of packs (ID -> size) that the
// cache does not list. A pack whose header cannot be read, or that is gone
// by the time it is read, is reported through Warn and left out.
func (r *Repository) indexFromHeaders(ctx context.Context, packs map[crypto.ID]int64) (*index.File, error) {
	var mu sync.Mutex
	f := &index.File{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for id, size := range packs {
		if ok, err := r.idx.HasPack(id); err != nil {
			return nil, err
		} else if ok {
			continue
		}
		g.Go(func() error {
			entries, intact, err := r.readHeader(gctx, id, size)
			if err == nil && !intact {
				r.markDamaged(id, 0, crypto.ID{}, reasonDamaged)
				r.Warn(fmt.Sprintf("pack %s: content does not match its name (damaged outside its header): its blobs are indexed, but not used to deduplicate", id.Short()))
			}
			switch {
			case errors.Is(err, pack.ErrCorrupt):
				r.Warn(fmt.Sprintf("pack %s is in no index and its header cannot be read: %v", id.Short(), err))
				return nil
			case errors.Is(err, backend.ErrNotExist):
				r.Warn(fmt.Sprintf("pack %s was listed but cannot be read: %v", id.Short(), err))
				return nil
			case err != nil:
				return fmt.Errorf("repo: read header of pack %s: %w", id, err)
			}
			mu.Lock()
			f.Packs = append(f.Packs, index.Pack{ID: id, Size: size, Entries: entries})
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return f, nil
}

// readHeader reads the header of pack id of size bytes. A pack no larger
// than what ReadHeader reads anyway is read whole and checked against its
// name, so that damage outside its header is found too: intact is false
// when that check fails.
func (r *Repository) readHeader(ctx context.Context, id crypto.ID, size int64) (entries []pack.Entry, intact bool, err error) {
	h := backend.Handle{Type: backend.PackFile, Name: id.String()}
	if size <= 0 || size > pack.TailSize {
		entries, err = pack.ReadHeader(r.key, backend.ReaderAt{Ctx: ctx, Backend: r.be, Handle: h}, size)
		return entries, true, err
	}
	data := make([]byte, size)
	if err := backend.ReadAt(ctx, r.be, h, data, 0); err != nil {
		return nil, false, err
	}
	entries, err = pack.ReadHeader(r.key, bytes.NewReader(data), size)
	return entries, crypto.Hash(data) == id, err
}
