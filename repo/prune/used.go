package prune

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
	"golang.org/x/sync/errgroup"
)

// Bits of a blob's entry in the used set: referenced as a data or tree
// blob. The same ID could in principle be both.
// The plan marks a used blob's kept copy in the same set (one map of a
// byte per used blob is the largest thing prune holds in memory).
const (
	usedData uint8 = 1 << iota
	usedTree
	keptData
	keptTree
)

func usedBit(t pack.BlobType) uint8 {
	if t == pack.TreeBlob {
		return usedTree
	}
	return usedData
}

func keptBit(t pack.BlobType) uint8 {
	if t == pack.TreeBlob {
		return keptTree
	}
	return keptData
}

// usedSet is every blob some snapshot references.
type usedSet map[crypto.ID]uint8

func (u usedSet) has(t pack.BlobType, id crypto.ID) bool { return u[id]&usedBit(t) != 0 }

// ErrUnreadable is wrapped when prune cannot know what the snapshots
// reference: deleting anything then could lose data.
var ErrUnreadable = errors.New("prune: a snapshot or tree cannot be read; nothing was deleted (run 'arca check' to see what is damaged)")

// findUsed loads every snapshot file (replaced ones too: an interrupted
// retag leaves two files for one snapshot) and reads every tree once,
// several at a time, collecting every blob referenced. Any snapshot or
// tree that cannot be read stops it.
func findUsed(ctx context.Context, r *repo.Repository) (usedSet, int, error) {
	ids, err := r.ListFiles(ctx, backend.SnapshotFile)
	if err != nil {
		return nil, 0, err
	}
	used := usedSet{}
	var mu sync.Mutex
	// mark adds a blob and says whether it is new.
	mark := func(t pack.BlobType, id crypto.ID) bool {
		mu.Lock()
		defer mu.Unlock()
		b := usedBit(t)
		if used[id]&b != 0 {
			return false
		}
		used[id] |= b
		return true
	}
	var roots []crypto.ID
	snaps := 0
	for _, id := range ids {
		sn, err := snapshot.Load(ctx, r, id)
		if errors.Is(err, backend.ErrNotExist) {
			continue // forgotten meanwhile
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%w: snapshots/%s: %v", ErrUnreadable, id, err)
		}
		snaps++
		if mark(pack.TreeBlob, sn.Tree) {
			roots = append(roots, sn.Tree)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	var walk func(id crypto.ID) error
	walk = func(id crypto.ID) error {
		t, err := tree.Load(gctx, r, id)
		if err != nil {
			if gctx.Err() != nil {
				return gctx.Err()
			}
			return fmt.Errorf("%w: tree %s: %v", ErrUnreadable, id, err)
		}
		for i := range t.Nodes {
			n := &t.Nodes[i]
			for _, b := range n.Content {
				mark(pack.DataBlob, b)
			}
			if n.Type == tree.Dir && mark(pack.TreeBlob, n.Subtree) {
				sub := n.Subtree
				if !g.TryGo(func() error { return walk(sub) }) {
					if err := walk(sub); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	for _, id := range roots {
		g.Go(func() error { return walk(id) })
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	return used, snaps, nil
}
