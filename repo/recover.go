package repo

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/index"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/backend"
	"golang.org/x/sync/errgroup"
)

// RecoverPacks indexes packs that are in the repository but in no index
// file: those of a write session that was killed before its next
// checkpoint. Each pack's own sealed header lists its blobs, so the next
// backup reuses them instead of uploading them again. A pack that another
// host is writing right now may be indexed twice; duplicate index entries
// are harmless. Unreadable packs are reported through Warn and skipped.
func (r *Repository) RecoverPacks(ctx context.Context) error {
	var orphans []backend.FileInfo
	err := r.be.List(ctx, backend.PackFile, func(fi backend.FileInfo) error {
		id, err := crypto.ParseID(fi.Name)
		if err != nil {
			return nil
		}
		ok, err := r.idx.HasPack(id)
		if err != nil {
			return err
		}
		if !ok {
			orphans = append(orphans, fi)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("repo: list packs: %w", err)
	}
	if len(orphans) == 0 {
		return nil
	}
	var mu sync.Mutex
	f := &index.File{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, fi := range orphans {
		g.Go(func() error {
			id, _ := crypto.ParseID(fi.Name)
			h := backend.Handle{Type: backend.PackFile, Name: fi.Name}
			entries, err := pack.ReadHeader(r.key, backend.ReaderAt{Ctx: gctx, Backend: r.be, Handle: h}, fi.Size)
			if errors.Is(err, pack.ErrCorrupt) {
				r.Warn(fmt.Sprintf("pack %s is in no index and its header cannot be read: %v", id.Short(), err))
				return nil
			} else if err != nil {
				return fmt.Errorf("repo: recover %s: %w", h, err)
			}
			mu.Lock()
			f.Packs = append(f.Packs, index.Pack{ID: id, Size: fi.Size, Entries: entries})
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if len(f.Packs) == 0 {
		return nil
	}
	id, err := r.SaveFile(ctx, backend.IndexFile, crypto.KindIndex, f.Encode(nil))
	if err != nil {
		return err
	}
	return r.idx.AddFile(id, f)
}
