package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/index"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/backend"
	"golang.org/x/sync/errgroup"
)

// What garbage collection (repo/prune) and repair need of the index,
// without importing it.

// IndexPack lists the blobs of one pack (index.Pack).
type IndexPack = index.Pack

// IndexFile is the content of an index file (index.File).
type IndexFile = index.File

// IndexedPackSizes calls fn with the ID and size of every pack the loaded
// index files list, without reading their entries.
func (r *Repository) IndexedPackSizes(fn func(id crypto.ID, size int64) error) error {
	return r.idx.Packs(fn)
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
	if len(f.Supersedes) > 0 {
		if err := r.idx.DropFiles(f.Supersedes, true); err != nil {
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

// maxIndexBlobs bounds the blobs of one index file that replaces others, as
// a write session's checkpoints do.
const maxIndexBlobs = checkpointBlobs

// DropPacksFromIndex replaces every index file that lists a pack in del by
// index files that list its other packs and name it as superseded, grouped
// so that each new file holds everything of the files it supersedes (a
// kill between two writes leaves no file superseded by a file that lacks
// some of its packs); then it removes the superseded files. It returns how
// many files it wrote and superseded.
func (r *Repository) DropPacksFromIndex(ctx context.Context, del map[crypto.ID]bool) (written, superseded int, err error) {
	files, err := r.IndexFiles()
	if err != nil {
		return 0, 0, err
	}
	var old []crypto.ID
	for fid, packs := range files {
		for _, id := range packs {
			if del[id] {
				old = append(old, fid)
				break
			}
		}
	}
	slices.SortFunc(old, func(a, b crypto.ID) int { return bytes.Compare(a[:], b[:]) })
	cur := &IndexFile{}
	seen := map[crypto.ID]bool{}
	blobs := 0
	flush := func() error {
		if len(cur.Supersedes) == 0 {
			return nil
		}
		if _, err := r.SaveIndex(ctx, cur); err != nil {
			return err
		}
		written++
		cur, seen, blobs = &IndexFile{}, map[crypto.ID]bool{}, 0
		return nil
	}
	for _, fid := range old {
		var packs []IndexPack
		n := 0
		for _, id := range files[fid] {
			if del[id] {
				continue
			}
			ip, ok, err := r.IndexedPack(id)
			if err != nil {
				return written, superseded, err
			}
			if ok {
				packs = append(packs, ip)
				n += len(ip.Entries)
			}
		}
		if blobs > 0 && blobs+n > maxIndexBlobs {
			if err := flush(); err != nil {
				return written, superseded, err
			}
		}
		cur.Supersedes = append(cur.Supersedes, fid)
		for _, ip := range packs {
			if !seen[ip.ID] {
				seen[ip.ID] = true
				cur.Packs = append(cur.Packs, ip)
			}
		}
		blobs += n
	}
	if err := flush(); err != nil {
		return written, superseded, err
	}
	for _, fid := range old {
		if err := r.RemoveFile(ctx, backend.IndexFile, fid); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return written, superseded, err
		}
		superseded++
	}
	return written, superseded, nil
}

// Available reports whether blob id of type t has a copy not known to be
// missing or damaged.
func (r *Repository) Available(t pack.BlobType, id crypto.ID) (bool, error) {
	locs, err := r.idx.LookupAll(t, id)
	if err != nil {
		return false, err
	}
	for _, l := range locs {
		if r.usable(l) {
			return true, nil
		}
	}
	return false, nil
}

// DamagedPacks returns the packs this cache knows to be missing or to hold
// damage (found by check --read-data, a restore or a backup), with the
// reason.
func (r *Repository) DamagedPacks() (map[crypto.ID]string, error) {
	list, err := r.idx.Damaged()
	if err != nil {
		return nil, err
	}
	out := map[crypto.ID]string{}
	for _, dm := range list {
		if _, ok := out[dm.Pack]; !ok || dm.Type == 0 {
			out[dm.Pack] = dm.Reason
		}
	}
	return out, nil
}

// RebuildResult is what RebuildIndex found.
type RebuildResult struct {
	Packs, Blobs int
	// Added are packs no index file listed; Dropped packs the index listed
	// that are not stored; Unreadable packs whose header cannot be read
	// (kept as the index lists them, if it does).
	Added, Dropped []crypto.ID
	Unreadable     map[crypto.ID]error
	Written        int // index files written
	Superseded     int // index files replaced (all of them)
}

// RebuildIndex reads the header of every stored pack and writes index
// files listing them all, the last of which supersedes every existing
// index file (readable or not); then it removes the old files. A pack
// whose header cannot be read keeps the entries the index has for it (so
// that repair packs can salvage it). The caller holds the repository
// exclusively. With dryRun it only reports.
func (r *Repository) RebuildIndex(ctx context.Context, dryRun bool) (RebuildResult, error) {
	res := RebuildResult{Unreadable: map[crypto.ID]error{}}
	stored, err := r.ListPacks(ctx)
	if err != nil {
		return res, err
	}
	old, err := r.ListFiles(ctx, backend.IndexFile)
	if err != nil {
		return res, err
	}
	var mu sync.Mutex
	var packs []IndexPack
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for id, size := range stored {
		g.Go(func() error {
			entries, _, err := r.readHeader(gctx, id, size)
			if err != nil && gctx.Err() != nil {
				return gctx.Err()
			}
			known, indexed, ierr := r.IndexedPack(id)
			if ierr != nil {
				return ierr
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				res.Unreadable[id] = err
				if indexed {
					packs = append(packs, known)
				}
			default:
				packs = append(packs, IndexPack{ID: id, Size: size, Entries: entries})
				if !indexed {
					res.Added = append(res.Added, id)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	err = r.idx.Packs(func(id crypto.ID, _ int64) error {
		if _, ok := stored[id]; !ok {
			res.Dropped = append(res.Dropped, id)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	slices.SortFunc(packs, func(a, b IndexPack) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	res.Packs = len(packs)
	for _, p := range packs {
		res.Blobs += len(p.Entries)
	}
	if dryRun {
		return res, nil
	}
	// All files but the last supersede nothing; the last supersedes every
	// old file, so a reader drops the old ones only once it has all new.
	var files []*IndexFile
	cur := &IndexFile{}
	n := 0
	for _, p := range packs {
		if n > 0 && n+len(p.Entries) > maxIndexBlobs {
			files = append(files, cur)
			cur, n = &IndexFile{}, 0
		}
		cur.Packs = append(cur.Packs, p)
		n += len(p.Entries)
	}
	files = append(files, cur)
	files[len(files)-1].Supersedes = old
	for _, f := range files {
		if len(f.Packs) == 0 && len(f.Supersedes) == 0 {
			continue
		}
		if _, err := r.SaveIndex(ctx, f); err != nil {
			return res, err
		}
		res.Written++
	}
	for _, id := range old {
		if err := r.RemoveFile(ctx, backend.IndexFile, id); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return res, err
		}
		res.Superseded++
	}
	return res, nil
}

// ReadPack reads pack id whole (for salvaging its blobs).
func (r *Repository) ReadPack(ctx context.Context, id crypto.ID) ([]byte, error) {
	data, err := backend.ReadAll(ctx, r.be, backend.Handle{Type: backend.PackFile, Name: id.String()})
	if err != nil {
		return nil, fmt.Errorf("repo: read pack %s: %w", id.Short(), err)
	}
	return data, nil
}
