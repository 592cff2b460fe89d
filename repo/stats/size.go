package stats

import (
	"context"
	"path"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/tree"
)

type inode struct{ dev, ino uint64 }

// dirSize is the restore size of a tree. Files with several links are
// kept apart, by inode, so that a snapshot counts each of them once.
type dirSize struct {
	size, files, dirs uint64
	links             map[inode]uint64
}

// sizer walks snapshot trees, loading each distinct tree once: it
// remembers each tree's restore size, so snapshots sharing most of their
// trees cost little more than one, and calls visit (if set) for every node
// of every distinct tree.
type sizer struct {
	r     *repo.Repository
	memo  map[crypto.ID]*dirSize
	visit func(*tree.Node)
}

func newSizer(r *repo.Repository, visit func(*tree.Node)) *sizer {
	return &sizer{r: r, memo: map[crypto.ID]*dirSize{}, visit: visit}
}

// snapshot returns the restore size of a snapshot's tree.
func (s *sizer) snapshot(ctx context.Context, root crypto.ID) (dirSize, error) {
	d, err := s.tree(ctx, root, "/")
	if err != nil {
		return dirSize{}, err
	}
	out := *d
	for _, size := range d.links {
		out.size += size
		out.files++
	}
	return out, nil
}

func (s *sizer) tree(ctx context.Context, id crypto.ID, dir string) (*dirSize, error) {
	if d, ok := s.memo[id]; ok {
		return d, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := tree.LoadOrSkip(ctx, s.r, id, dir)
	if err != nil {
		return nil, err
	}
	d := &dirSize{}
	if t == nil { // reported; counted as empty
		s.memo[id] = d
		return d, nil
	}
	addLink := func(k inode, size uint64) {
		if d.links == nil {
			d.links = map[inode]uint64{}
		}
		d.links[k] = size
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if s.visit != nil {
			s.visit(n)
		}
		switch {
		case n.Type == tree.Dir:
			sub, err := s.tree(ctx, n.Subtree, path.Join(dir, n.Name))
			if err != nil {
				return nil, err
			}
			d.size += sub.size
			d.files += sub.files
			d.dirs += sub.dirs + 1
			for k, size := range sub.links {
				addLink(k, size)
			}
		case n.Type == tree.File && n.Links > 1:
			addLink(inode{n.Device, n.Inode}, n.Size)
		default:
			d.size += n.Size
			d.files++
		}
	}
	s.memo[id] = d
	return d, nil
}
