package repo

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/index"
	"github.com/arcabackup/arca/repo/backend"
	"golang.org/x/sync/errgroup"
)

// collectAfter is how many dropped packs the cache marks before it
// removes their copies for good.
const collectAfter = 64

// SyncIndex brings the cache up to date with the repository's index
// files: it loads the files it has not seen, and drops exactly what the
// files that vanished or were superseded (by a prune or a repair that
// rewrote them) listed, so that no pack they alone listed is used again.
// An index file that cannot be read is reported through Damage and
// skipped, and the packs it may have listed are indexed in the cache from
// their own headers (nothing is written to the repository).
func (r *Repository) SyncIndex(ctx context.Context) error {
	ids, err := r.ListFiles(ctx, backend.IndexFile)
	if err != nil {
		return err
	}
	known, err := r.idx.Files()
	if err != nil {
		return fmt.Errorf("repo: cache: %w", err)
	}
	superseded, err := r.idx.Superseded()
	if err != nil {
		return fmt.Errorf("repo: cache: %w", err)
	}
	present := make(map[crypto.ID]bool, len(ids))
	for _, id := range ids {
		present[id] = true
	}
	var missing []crypto.ID
	for _, id := range ids {
		if !known[id] && !superseded[id] {
			missing = append(missing, id)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	var mu sync.Mutex
	damaged := map[crypto.ID]error{}
	supersede := map[crypto.ID]bool{}
	for _, id := range missing {
		g.Go(func() error {
			f, err := r.LoadIndexFile(gctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, backend.ErrNotExist):
				return nil // removed meanwhile (by a prune)
			case errors.Is(err, ErrCorrupt):
				damaged[id] = err
				return nil
			case err != nil:
				return err
			}
			for _, old := range f.Supersedes {
				supersede[old] = true
			}
			return r.idx.AddFile(id, f)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// Superseded files first (their replacements are loaded), then those
	// that vanished.
	var drop, vanished []crypto.ID
	for id := range supersede {
		if !superseded[id] {
			drop = append(drop, id)
			delete(damaged, id)
		}
	}
	for id := range known {
		if !present[id] && !supersede[id] {
			vanished = append(vanished, id)
		}
	}
	// Superseded files are marked so even while they still exist (a
	// mark of a file that is gone is forgotten below, next time).
	if len(drop) > 0 {
		if err := r.idx.DropFiles(drop, true); err != nil {
			return err
		}
	}
	if len(vanished) > 0 {
		if err := r.idx.DropFiles(vanished, false); err != nil {
			return err
		}
	}
	for id := range superseded {
		if !present[id] {
			if err := r.idx.ForgetSuperseded(id); err != nil {
				return err
			}
		}
	}
	// Dropped packs are only marked; once there are many, their copies
	// are removed for good (one pass over the cache).
	if r.idx.GoneCount() >= collectAfter {
		if err := r.idx.Collect(); err != nil {
			return err
		}
	}
	if len(damaged) > 0 {
		if err := r.rebuildIndex(ctx, damaged); err != nil {
			return err
		}
	}
	bad, err := r.idx.DamagedFiles()
	if err != nil {
		return err
	}
	for id, reason := range bad {
		if present[id] {
			r.Damage("index/"+id.String(), fmt.Errorf("%s; the packs it may list were indexed from their own headers", reason))
		}
	}
	return nil
}

// rebuildIndex indexes, in the cache only, the packs that no readable index
// file lists, reading their headers: what damaged index files listed is
// among them. The damaged files are marked, so that later runs report them
// without reading every pack again.
func (r *Repository) rebuildIndex(ctx context.Context, damaged map[crypto.ID]error) error {
	packs, err := r.ListPacks(ctx)
	if err != nil {
		return err
	}
	f, err := r.indexFromHeaders(ctx, packs)
	if err != nil {
		return err
	}
	first := true
	for id, derr := range damaged {
		if first {
			if err := r.idx.AddFile(id, f); err != nil {
				return err
			}
			first = false
		}
		if err := r.idx.MarkFileDamaged(id, derr.Error()); err != nil {
			return err
		}
	}
	return nil
}

// LoadIndexFile loads and decodes one index file.
func (r *Repository) LoadIndexFile(ctx context.Context, id crypto.ID) (*index.File, error) {
	plain, err := r.LoadFile(ctx, backend.IndexFile, crypto.KindIndex, id)
	if err != nil {
		return nil, err
	}
	f, err := index.Decode(plain)
	if err != nil {
		return nil, fmt.Errorf("repo: index/%s: %w", id, err)
	}
	return f, nil
}
