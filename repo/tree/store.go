package tree

import (
	"context"
	"fmt"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
)

// Saved says what Save stored: the encoded tree's size, and the bytes it
// added to the repository (0 when the tree was there already).
type Saved struct {
	Size, Stored int
}

// Save encodes t (sorting it first) and stores it as a tree blob. It returns
// the tree's ID and what it stored.
func Save(w *repo.Writer, t *Tree, comp *pack.Compressor) (crypto.ID, Saved, error) {
	t.Sort()
	buf := t.Encode(nil)
	id := w.Repository().BlobID(buf)
	sv := Saved{Size: len(buf)}
	stored, err := w.SaveBlob(pack.TreeBlob, id, buf, comp)
	if err != nil {
		return id, sv, fmt.Errorf("tree: save %s: %w", id.Short(), err)
	}
	sv.Stored = stored
	return id, sv, nil
}

// Load reads and decodes tree id.
func Load(ctx context.Context, r *repo.Repository, id crypto.ID) (*Tree, error) {
	buf, err := r.LoadBlob(ctx, pack.TreeBlob, id, nil)
	if err != nil {
		return nil, err
	}
	t, err := Decode(buf)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id.Short(), err)
	}
	return t, nil
}
