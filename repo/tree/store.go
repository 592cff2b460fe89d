package tree

import (
	"context"
	"fmt"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
)

// Save encodes t (sorting it first) and stores it as a tree blob. It returns
// the tree's ID and whether the blob was new.
func Save(w *repo.Writer, t *Tree, comp *pack.Compressor) (crypto.ID, bool, error) {
	t.Sort()
	buf := t.Encode(nil)
	id := w.Repository().Key().BlobID(buf)
	added, err := w.SaveBlob(pack.TreeBlob, id, buf, comp)
	if err != nil {
		return id, false, fmt.Errorf("tree: save %s: %w", id.Short(), err)
	}
	return id, added, nil
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
