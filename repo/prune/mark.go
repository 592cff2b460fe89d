package prune

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
)

// packUse is how much of one indexed pack is in use.
type packUse struct {
	id           crypto.ID
	size         int64
	used, unused int64 // bytes of blobs kept here, of blobs unused or kept elsewhere
	keep         []pack.Entry
}

type plan struct {
	candidates []crypto.ID
	repack     []*packUse
}

// plan decides what to mark: packs no snapshot uses (each used blob is
// kept in one copy; other copies count as unused), packs in no index file,
// and, while the unused space left in partly used packs exceeds
// MaxUnused, the partly used packs with the largest share of unused space
// (their used blobs are copied into new packs first). Packs in lists that
// wait are left out.
func (p *pruner) plan(ctx context.Context) (*plan, error) {
	r := p.r
	// First the packs' sizes only; their entries are read again one pack
	// at a time below, so that memory holds the entries of partly used
	// packs only.
	var packs []*packUse
	err := r.IndexedPackSizes(func(id crypto.ID, size int64) error {
		p.res.Total.add(size)
		if !p.pending[id] {
			packs = append(packs, &packUse{id: id, size: size})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// One copy of each used blob is kept, in the first usable pack
	// (largest first: those are the fuller ones) that holds it; a blob
	// with a copy only in a damaged pack keeps that one.
	slices.SortFunc(packs, func(a, b *packUse) int {
		if c := cmp.Compare(b.size, a.size); c != 0 {
			return c
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
	// The used set records which used blobs have a copy kept (keptBit).
	// A member of a group counts its share of the group's bytes.
	assign := func(pu *packUse, entries []pack.Entry) {
		shares := pack.Shares(entries)
		for i, e := range entries {
			b := usedBit(e.Type)
			v := p.used[e.ID]
			if v&b == 0 || v&keptBit(e.Type) != 0 {
				pu.unused += shares[i]
				continue
			}
			p.used[e.ID] = v | keptBit(e.Type)
			pu.used += shares[i]
			pu.keep = append(pu.keep, e)
		}
		if pu.unused == 0 {
			pu.keep = nil // wholly used: nothing to repack
		}
	}
	var damaged []*packUse
	damagedEntries := map[crypto.ID][]pack.Entry{}
	var kept []*packUse
	for _, pu := range packs {
		ip, ok, err := r.IndexedPack(pu.id)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if slices.ContainsFunc(ip.Entries, func(e pack.Entry) bool { return !r.Usable(repo.Location{Pack: pu.id, Entry: e}) }) {
			damaged = append(damaged, pu)
			damagedEntries[pu.id] = ip.Entries
			continue
		}
		assign(pu, ip.Entries)
		kept = append(kept, pu)
	}
	packs = kept
	pl := &plan{}
	var partly []*packUse
	var usedBytes, unusedBytes int64
	for _, pu := range packs {
		switch {
		case pu.used == 0:
			pl.candidates = append(pl.candidates, pu.id)
			p.res.Unused.add(pu.size)
		case pu.unused > 0:
			partly = append(partly, pu)
			unusedBytes += pu.unused
			usedBytes += pu.used
		default:
			usedBytes += pu.used
		}
	}
	for _, pu := range damaged {
		// Kept (repair packs salvages what is intact), unless every used
		// blob it holds has a copy elsewhere.
		assign(pu, damagedEntries[pu.id])
		if pu.used == 0 {
			pl.candidates = append(pl.candidates, pu.id)
			p.res.Unused.add(pu.size)
		}
	}
	// Repack the partly used packs with the largest share of unused space
	// while too much is unused.
	slices.SortFunc(partly, func(a, b *packUse) int {
		return cmp.Compare(float64(b.unused)/float64(b.size), float64(a.unused)/float64(a.size))
	})
	allowed := p.opts.MaxUnused.allowed(usedBytes)
	var repackBytes int64
	for _, pu := range partly {
		if unusedBytes <= allowed {
			break
		}
		if p.opts.MaxRepackBytes > 0 && repackBytes+pu.size > p.opts.MaxRepackBytes {
			continue
		}
		repackBytes += pu.size
		unusedBytes -= pu.unused
		pl.repack = append(pl.repack, pu)
		pl.candidates = append(pl.candidates, pu.id)
		p.res.Repack.add(pu.size)
		p.res.RepackBlobs += len(pu.keep)
		for _, e := range pu.keep {
			p.res.RepackBytes += int64(e.RawLength)
		}
	}
	p.res.UnusedLeft = unusedBytes
	// Packs in no index file (a write session killed before its
	// checkpoint, or a sweep's leftovers): marked too; the sweep reads
	// their headers and keeps what a snapshot came to use.
	stored, err := r.ListPacks(ctx)
	if err != nil {
		return nil, err
	}
	for id, size := range stored {
		if p.pending[id] {
			continue
		}
		if _, ok, err := r.IndexedPack(id); err != nil {
			return nil, err
		} else if !ok {
			pl.candidates = append(pl.candidates, id)
			p.res.Orphans.add(size)
		}
	}
	slices.SortFunc(pl.candidates, func(a, b crypto.ID) int { return bytes.Compare(a[:], b[:]) })
	return pl, nil
}

// mark copies the used blobs of the packs to repack into new packs, then
// writes the candidate list: first without its writers, then, once the
// heartbeats were read after it, complete. A writer that announces itself
// after the first write reads the list; one that did before is among its
// writers.
func (p *pruner) mark(ctx context.Context, pl *plan) (repo.CandidateList, error) {
	r := p.r
	if len(pl.repack) > 0 {
		// Every candidate, not only those repacked: a pack the plan found
		// unused may hold another copy of a blob a repacked pack keeps,
		// and the repack must not deduplicate against it.
		r.Avoid(pl.candidates)
		p.opts.Log(fmt.Sprintf("repacking %d packs", len(pl.repack)))
		if err := p.repack(ctx, pl.repack); err != nil {
			return repo.CandidateList{}, err
		}
	}
	session := p.opts.Heartbeat.Info().Session
	// The storage's clock, advanced by the time this run has taken.
	marked := p.opts.StorageNow.Add(time.Since(p.started))
	list := repo.CandidateList{Session: session, Marked: marked, Packs: pl.candidates}
	first, err := r.SaveCandidateList(ctx, list)
	if err != nil {
		return list, err
	}
	beats, err := r.Heartbeats(ctx)
	if err != nil {
		return list, err
	}
	list.Writers = []string{}
	for _, h := range beats {
		if h.Session != session {
			list.Writers = append(list.Writers, h.Session)
		}
	}
	list.Complete = true
	id, err := r.SaveCandidateList(ctx, list)
	if err != nil {
		return list, err
	}
	if err := removeList(ctx, r, first); err != nil {
		return list, err
	}
	list.ID = id
	p.res.Marked = id
	return list, nil
}

// repack copies the blobs each pack keeps into new packs of a write
// session. The candidates are avoided first (mark), so that the session
// stores those blobs anew rather than deduplicate against copies about to
// go.
func (p *pruner) repack(ctx context.Context, packs []*packUse) error {
	r := p.r
	w := r.NewWriter(ctx, repo.WriterOptions{})
	comp := w.NewCompressor()
	pr := r.NewPackReader()
	var failed error
	for _, pu := range packs {
		_, err := pr.Read(ctx, pu.id, pu.keep, func(e pack.Entry, plain []byte, err error) error {
			if err == nil {
				buf := append([]byte(nil), plain...)
				_, err = w.SaveBlob(e.Type, e.ID, buf, comp)
			}
			if err != nil && failed == nil {
				failed = fmt.Errorf("prune: repack pack %s: blob %s: %w", pu.id.Short(), e.ID.Short(), err)
			}
			return nil
		})
		if err == nil {
			err = failed
		}
		if err != nil {
			w.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
