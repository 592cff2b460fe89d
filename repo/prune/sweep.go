package prune

import (
	"context"
	"errors"
	"fmt"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
)

const backendPrune = backend.PruneFile

func ignoreGone(err error) error {
	if errors.Is(err, backend.ErrNotExist) {
		return nil
	}
	return err
}

// sweep deletes the candidates of ripe lists that nothing uses any more:
// (1) it keeps every candidate holding a used blob that has no usable
// copy outside the candidates (a snapshot saved after the marking uses
// it), and indexes again a pack in no index file that holds such a blob;
// (2) it writes index files that supersede those listing a deleted pack,
// holding their other packs, then removes the superseded files; (3) it
// deletes the packs; (4) it removes the lists. Each step leaves the
// repository consistent if the process is killed; a later prune finishes.
func (p *pruner) sweep(ctx context.Context, lists []repo.CandidateList) error {
	r := p.r
	if err := r.SyncIndex(ctx); err != nil {
		return err
	}
	del := map[crypto.ID]bool{}
	for _, l := range lists {
		for _, id := range l.Packs {
			if !p.pending[id] {
				del[id] = true
			}
		}
	}
	stored, err := r.ListPacks(ctx)
	if err != nil {
		return err
	}
	elsewhere := func(t pack.BlobType, id crypto.ID) (bool, error) {
		locs, err := r.Copies(t, id)
		if err != nil {
			return false, err
		}
		for _, l := range locs {
			if !del[l.Pack] && r.Usable(l) {
				if _, ok := stored[l.Pack]; ok {
					return true, nil
				}
			}
		}
		return false, nil
	}
	var keep []crypto.ID
	var recovered []repo.IndexPack
	for id := range del {
		ip, indexed, err := r.IndexedPack(id)
		if err != nil {
			return err
		}
		size, present := stored[id]
		if !indexed {
			if !present {
				continue // gone already
			}
			// In no index file: its header says what it holds.
			entries, err := r.PackHeader(ctx, id, size)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				p.opts.Log(fmt.Sprintf("pack %s: %v; deleted with the candidates", id.Short(), err))
				continue
			}
			ip = repo.IndexPack{ID: id, Size: size, Entries: entries}
		}
		needed := false
		for _, e := range ip.Entries {
			if !p.used.has(e.Type, e.ID) {
				continue
			}
			ok, err := elsewhere(e.Type, e.ID)
			if err != nil {
				return err
			}
			if !ok {
				needed = true
				break
			}
		}
		if !needed {
			continue
		}
		keep = append(keep, id)
		if !indexed {
			recovered = append(recovered, ip)
		}
	}
	for _, id := range keep {
		delete(del, id)
		p.res.Unmarked.add(stored[id])
	}
	if p.opts.DryRun {
		for id := range del {
			if size, ok := stored[id]; ok {
				p.res.Deleted.add(size)
			}
			p.pending[id] = true // gone, as far as the plan is concerned
		}
		return nil
	}
	if len(recovered) > 0 {
		if _, err := r.SaveIndex(ctx, &repo.IndexFile{Packs: recovered}); err != nil {
			return err
		}
		for _, ip := range recovered {
			p.res.Recovered.add(ip.Size)
		}
	}
	written, superseded, err := r.DropPacksFromIndex(ctx, del)
	p.res.IndexFiles += written
	p.res.Superseded += superseded
	if err != nil {
		return err
	}
	for id := range del {
		size, ok := stored[id]
		if err := r.RemovePack(ctx, id); err != nil {
			return err
		}
		if ok {
			p.res.Deleted.add(size)
		}
	}
	for _, l := range lists {
		if err := removeList(ctx, r, l.ID); err != nil {
			return err
		}
		p.res.Swept = append(p.res.Swept, l.ID)
	}
	return nil
}
