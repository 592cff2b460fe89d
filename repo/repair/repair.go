// Package repair mends a damaged repository: it rebuilds the index from
// pack headers (Index), salvages the intact blobs of damaged packs and
// drops the packs (Packs), and rewrites snapshots whose trees reference
// blobs that are lost, without the files and directories that lost
// content (Snapshots). Each plans first and, with DryRun, only reports.
package repair

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
)

// Index rebuilds the index from the headers of the stored packs
// (repo.RebuildIndex). The caller holds the repository exclusively.
func Index(ctx context.Context, r *repo.Repository, dryRun bool) (repo.RebuildResult, error) {
	return r.RebuildIndex(ctx, dryRun)
}

// PackResult is what Packs did with one pack.
type PackResult struct {
	Pack     crypto.ID `json:"pack"`
	Reason   string    `json:"reason"`
	Salvaged int       `json:"salvaged_blobs"`
	Lost     []string  `json:"lost_blobs"` // "data <id>" or "tree <id>"
}

// Packs salvages the blobs of the given packs (nil: every pack this
// cache knows to be missing or damaged) that still verify into new packs,
// then drops the packs from the index (superseding the index files that
// list them) and deletes them. Blobs that do not verify are lost, unless
// another copy exists; Snapshots then drops what lost them. The caller
// holds the repository exclusively.
func Packs(ctx context.Context, r *repo.Repository, ids []crypto.ID, dryRun bool) ([]PackResult, error) {
	reasons := map[crypto.ID]string{}
	if len(ids) == 0 {
		var err error
		if reasons, err = r.DamagedPacks(); err != nil {
			return nil, err
		}
		for id := range reasons {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b crypto.ID) int { return bytes.Compare(a[:], b[:]) })
	var out []PackResult
	if len(ids) == 0 {
		return out, nil
	}
	r.Avoid(ids) // store the salvaged blobs anew
	var w *repo.Writer
	var comp *pack.Compressor
	if !dryRun {
		w = r.NewWriter(ctx, repo.WriterOptions{})
		comp = w.NewCompressor()
	}
	opener := r.NewOpener()
	del := map[crypto.ID]bool{}
	for _, id := range ids {
		res := PackResult{Pack: id, Reason: reasons[id]}
		ip, ok, err := r.IndexedPack(id)
		if err != nil {
			return out, err
		}
		if !ok {
			if ip.Entries, err = r.PackHeader(ctx, id, 0); err != nil {
				return out, fmt.Errorf("repair: pack %s is in no index file and %w", id.Short(), err)
			}
		}
		// Read once: the pack's bytes against its name, each blob against
		// its ID.
		data, rerr := r.ReadPack(ctx, id)
		switch {
		case errors.Is(rerr, backend.ErrNotExist):
			if res.Reason == "" {
				res.Reason = "missing"
			}
		case rerr != nil:
			return out, rerr
		}
		salvaged := make([][]byte, len(ip.Entries)) // nil where the blob failed
		opener.Reset()
		for i, e := range ip.Entries {
			var plain []byte
			verr := rerr
			if verr == nil {
				if int64(e.Offset)+int64(e.Length) > int64(len(data)) {
					verr = fmt.Errorf("beyond the end of the pack")
				} else {
					plain, verr = opener.Open(e, data[e.Offset:e.Offset+e.Length], nil)
				}
			}
			if verr != nil {
				res.Lost = append(res.Lost, fmt.Sprintf("%s %s", e.Type, e.ID))
				continue
			}
			salvaged[i] = append(plain, 0)[:len(plain)] // not nil, even when empty
		}
		if res.Reason == "" {
			res.Reason = "damaged"
			if len(res.Lost) == 0 && crypto.Hash(data) == id {
				res.Reason = "intact"
				out = append(out, res) // nothing to repair: left alone
				continue
			}
		}
		for i, e := range ip.Entries {
			if salvaged[i] == nil {
				continue
			}
			res.Salvaged++
			if w != nil {
				if _, err := w.SaveBlob(e.Type, e.ID, salvaged[i], comp); err != nil {
					w.Close()
					return out, err
				}
			}
		}
		del[id] = true
		out = append(out, res)
	}
	if dryRun {
		return out, nil
	}
	if err := w.Flush(); err != nil {
		w.Close()
		return out, err
	}
	if err := w.Close(); err != nil {
		return out, err
	}
	if _, _, err := r.DropPacksFromIndex(ctx, del); err != nil {
		return out, err
	}
	for id := range del {
		if err := r.RemovePack(ctx, id); err != nil {
			return out, err
		}
	}
	return out, nil
}

// SnapshotResult is what Snapshots did with one snapshot.
type SnapshotResult struct {
	Snapshot crypto.ID `json:"snapshot"`
	New      crypto.ID `json:"new_snapshot,omitzero"`
	// Dropped are the paths left out: files that lost content, and
	// directories whose tree cannot be read.
	Dropped []string `json:"dropped"`
	// Unreadable is set when the snapshot file itself cannot be read: it
	// is removed (nothing of it can be found).
	Unreadable string `json:"unreadable,omitempty"`
}

// RepairedTag is added to the snapshots Snapshots rewrites.
const RepairedTag = "repaired"

// Snapshots rewrites every snapshot whose trees reference a blob with no
// usable copy: files that lost content and directories whose tree cannot
// be read are left out of the new snapshot, which replaces the old one
// (tagged "repaired"); snapshot files that cannot be read are removed. It
// checks against the index and what this cache knows to be damaged: run
// check --read-data (and repair packs) first to find damaged blobs. w
// saves the new trees; nil with dryRun.
func Snapshots(ctx context.Context, r *repo.Repository, w *repo.Writer, dryRun bool) ([]SnapshotResult, error) {
	ids, err := r.ListFiles(ctx, backend.SnapshotFile)
	if err != nil {
		return nil, err
	}
	m := &mender{ctx: ctx, r: r, w: w, done: map[crypto.ID]mended{}}
	if w != nil {
		m.comp = w.NewCompressor()
	}
	var out []SnapshotResult
	var snaps []*snapshot.Snapshot
	for _, id := range ids {
		sn, err := snapshot.Load(ctx, r, id)
		switch {
		case errors.Is(err, backend.ErrNotExist):
			continue
		case err != nil && ctx.Err() != nil:
			return out, ctx.Err()
		case err != nil:
			out = append(out, SnapshotResult{Snapshot: id, Unreadable: err.Error()})
			if !dryRun {
				if err := r.RemoveFile(ctx, backend.SnapshotFile, id); err != nil && !errors.Is(err, backend.ErrNotExist) {
					return out, err
				}
			}
			continue
		}
		snaps = append(snaps, sn)
	}
	for _, sn := range snaps {
		root := "/"
		newTree, dropped, err := m.tree(sn.Tree, root)
		if err != nil {
			return out, err
		}
		if len(dropped) == 0 {
			continue
		}
		res := SnapshotResult{Snapshot: sn.ID, Dropped: dropped}
		if newTree.IsNull() {
			// The root itself is lost: nothing of the snapshot is left.
			if !dryRun {
				if err := snapshot.Remove(ctx, r, sn); err != nil {
					return out, err
				}
			}
			out = append(out, res)
			continue
		}
		if !dryRun {
			if err := w.Flush(); err != nil {
				return out, err
			}
			sn.Tree = newTree
			sn.Retag(nil, []string{RepairedTag}, nil)
			if err := snapshot.Replace(ctx, r, sn); err != nil {
				return out, err
			}
			res.New = sn.ID
		}
		out = append(out, res)
	}
	return out, nil
}

type mended struct {
	id      crypto.ID // the new tree; null if unreadable
	dropped []string  // relative to the tree
}

type mender struct {
	ctx  context.Context
	r    *repo.Repository
	w    *repo.Writer
	comp *pack.Compressor
	done map[crypto.ID]mended
}

// tree returns the mended version of tree id (at path dir) and the paths
// it dropped; the null ID if the tree cannot be read.
func (m *mender) tree(id crypto.ID, dir string) (crypto.ID, []string, error) {
	if d, ok := m.done[id]; ok {
		return d.id, prefix(dir, d.dropped), nil
	}
	d, err := m.mend(id)
	if err != nil {
		return crypto.ID{}, nil, err
	}
	m.done[id] = d
	return d.id, prefix(dir, d.dropped), nil
}

func prefix(dir string, rel []string) []string {
	out := make([]string, len(rel))
	for i, p := range rel {
		out[i] = path.Join(dir, p)
	}
	return out
}

func (m *mender) mend(id crypto.ID) (mended, error) {
	if ok, err := m.r.Available(pack.TreeBlob, id); err != nil {
		return mended{}, err
	} else if !ok {
		return mended{dropped: []string{"."}}, nil
	}
	t, err := tree.Load(m.ctx, m.r, id)
	if err != nil {
		if m.ctx.Err() != nil {
			return mended{}, m.ctx.Err()
		}
		return mended{dropped: []string{"."}}, nil
	}
	var dropped []string
	keep := t.Nodes[:0:0]
	for _, n := range t.Nodes {
		name := string(n.Name)
		switch n.Type {
		case tree.Dir:
			sub, d, err := m.tree(n.Subtree, name)
			if err != nil {
				return mended{}, err
			}
			dropped = append(dropped, d...)
			if sub.IsNull() {
				continue
			}
			n.Subtree = sub
		case tree.File:
			lost := false
			for _, b := range n.Content {
				ok, err := m.r.Available(pack.DataBlob, b)
				if err != nil {
					return mended{}, err
				}
				if !ok {
					lost = true
					break
				}
			}
			if lost {
				dropped = append(dropped, name)
				continue
			}
		}
		keep = append(keep, n)
	}
	if len(dropped) == 0 {
		return mended{id: id}, nil
	}
	if m.w == nil {
		return mended{id: id, dropped: dropped}, nil // dry run: the old ID stands in
	}
	t.Nodes = keep
	nid, _, err := tree.Save(m.w, t, m.comp)
	if err != nil {
		return mended{}, err
	}
	return mended{id: nid, dropped: dropped}, nil
}
