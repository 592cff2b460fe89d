package tree

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
)

// ErrNotFound is returned when a path is not in a tree.
var ErrNotFound = errors.New("tree: path not found")

// SkipDir, returned by a Walk callback for a directory, skips its contents.
var SkipDir = errors.New("skip this directory")

// LoadOrSkip loads the tree id of the snapshot directory p. A tree that
// cannot be read is reported through the repository's Damage, naming p,
// and LoadOrSkip returns nil and no error: the caller skips the
// directory's contents and goes on. Only an interruption (ctx) is an
// error.
func LoadOrSkip(ctx context.Context, r *repo.Repository, id crypto.ID, p string) (*Tree, error) {
	t, err := Load(ctx, r, id)
	if err == nil {
		return t, nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return nil, cerr
	}
	r.Damage(p, fmt.Errorf("the directory cannot be read, its contents are skipped: %w", err))
	return nil, nil
}

// Walk calls fn for every node under tree id in depth-first, name order.
// Paths are prefix joined with the node names by "/". A directory whose
// tree cannot be read is reported (LoadOrSkip) and skipped.
func Walk(ctx context.Context, r *repo.Repository, id crypto.ID, prefix string, fn func(p string, n *Node) error) error {
	t, err := LoadOrSkip(ctx, r, id, path.Clean("/"+prefix))
	if t == nil {
		return err
	}
	for i := range t.Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := &t.Nodes[i]
		p := path.Join(prefix, n.Name)
		err := fn(p, n)
		if errors.Is(err, SkipDir) {
			continue
		} else if err != nil {
			return err
		}
		if n.Type == Dir {
			if err := Walk(ctx, r, n.Subtree, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// Lookup finds the node at p (slash-separated, relative to the root tree
// id; a leading "/" is ignored). The root itself is returned as a
// directory node named "/".
func Lookup(ctx context.Context, r *repo.Repository, root crypto.ID, p string) (*Node, error) {
	node := &Node{Name: "/", Type: Dir, Subtree: root}
	for _, elem := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if elem == "" {
			continue
		}
		if node.Type != Dir {
			return nil, fmt.Errorf("%w: %s (%s is not a directory)", ErrNotFound, p, node.Name)
		}
		t, err := Load(ctx, r, node.Subtree)
		if err != nil {
			return nil, err
		}
		n, ok := t.Find(elem)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, p)
		}
		node = n
	}
	return node, nil
}
