package tree

import (
	"context"
	"path"
	"slices"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
)

// ChangeKind says how an entry differs between two trees. The values are
// the markers `arca diff` prints, as restic does.
type ChangeKind byte

const (
	Added       ChangeKind = '+'
	Removed     ChangeKind = '-'
	Modified    ChangeKind = 'M' // content (or link target, device number) changed
	Metadata    ChangeKind = 'U' // only metadata (mode, owner, times, xattrs) changed
	TypeChanged ChangeKind = 'T' // a different kind of node with the same name
)

// Change is one differing entry. Old is nil for Added, New for Removed.
type Change struct {
	Path     string
	Kind     ChangeKind
	Old, New *Node
}

// Diff calls fn for every entry that differs between the trees a and b, in
// path order. Subtrees with the same ID are skipped without being read. For
// a directory that was added or removed, its contents are reported too;
// a directory's own metadata change is reported only if more than its
// times changed (its mtime follows every change inside it). A directory
// whose tree cannot be read on either side is reported (LoadOrSkip) and
// not compared.
func Diff(ctx context.Context, r *repo.Repository, a, b crypto.ID, fn func(Change) error) error {
	return diffTrees(ctx, r, a, b, "/", fn)
}

func diffTrees(ctx context.Context, r *repo.Repository, a, b crypto.ID, dir string, fn func(Change) error) error {
	if a == b {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ta, err := loadOrEmpty(ctx, r, a, dir)
	if ta == nil {
		return err
	}
	tb, err := loadOrEmpty(ctx, r, b, dir)
	if tb == nil {
		return err
	}
	i, j := 0, 0
	for i < len(ta.Nodes) || j < len(tb.Nodes) {
		var na, nb *Node
		switch {
		case j == len(tb.Nodes) || i < len(ta.Nodes) && ta.Nodes[i].Name < tb.Nodes[j].Name:
			na = &ta.Nodes[i]
			i++
		case i == len(ta.Nodes) || tb.Nodes[j].Name < ta.Nodes[i].Name:
			nb = &tb.Nodes[j]
			j++
		default:
			na, nb = &ta.Nodes[i], &tb.Nodes[j]
			i++
			j++
		}
		if err := diffNodes(ctx, r, dir, na, nb, fn); err != nil {
			return err
		}
	}
	return nil
}

// loadOrEmpty loads a tree of one side, or an empty one for a side that
// has no directory there; a tree that cannot be read is reported and nil.
func loadOrEmpty(ctx context.Context, r *repo.Repository, id crypto.ID, dir string) (*Tree, error) {
	if id.IsNull() {
		return &Tree{}, nil
	}
	return LoadOrSkip(ctx, r, id, dir)
}

func diffNodes(ctx context.Context, r *repo.Repository, dir string, na, nb *Node, fn func(Change) error) error {
	var p string
	if na != nil {
		p = path.Join(dir, na.Name)
	} else {
		p = path.Join(dir, nb.Name)
	}
	var kind ChangeKind
	switch {
	case nb == nil:
		kind = Removed
	case na == nil:
		kind = Added
	case na.Type != nb.Type:
		kind = TypeChanged
	case na.Type == Dir:
		if !sameMeta(na, nb, false) {
			kind = Metadata
		}
	case !sameContent(na, nb):
		kind = Modified
	case !sameMeta(na, nb, true):
		kind = Metadata
	}
	if kind != 0 {
		if err := fn(Change{Path: p, Kind: kind, Old: na, New: nb}); err != nil {
			return err
		}
	}
	var sa, sb crypto.ID
	if na != nil && na.Type == Dir {
		sa = na.Subtree
	}
	if nb != nil && nb.Type == Dir {
		sb = nb.Subtree
	}
	if sa.IsNull() && sb.IsNull() {
		return nil
	}
	return diffTrees(ctx, r, sa, sb, p, fn)
}

func sameContent(a, b *Node) bool {
	return a.Size == b.Size && a.LinkTarget == b.LinkTarget && a.Rdev == b.Rdev && slices.Equal(a.Content, b.Content)
}

func sameMeta(a, b *Node, times bool) bool {
	if a.Mode != b.Mode || a.UID != b.UID || a.GID != b.GID || a.User != b.User || a.Group != b.Group {
		return false
	}
	if times && a.ModTime != b.ModTime {
		return false
	}
	return slices.EqualFunc(a.Xattrs, b.Xattrs, func(x, y Xattr) bool { return x.Name == y.Name && string(x.Value) == string(y.Value) })
}

// DiffStats sums up a diff.
type DiffStats struct {
	ChangedFiles int // files with Modified, Metadata or TypeChanged
	Added        DiffCount
	Removed      DiffCount
}

// DiffCount counts one side of a diff.
type DiffCount struct {
	Files     int   `json:"files"`
	Dirs      int   `json:"dirs"`
	Others    int   `json:"others"`
	DataBlobs int   `json:"data_blobs"`
	Bytes     int64 `json:"bytes"` // plaintext bytes of those data blobs
}

// DiffCounter accumulates DiffStats from changes. Blobs count as added if
// a changed entry of the new tree references them and no changed entry of
// the old tree does, and the other way round for removed ones.
type DiffCounter struct {
	stats      DiffStats
	olds, news map[crypto.ID]struct{}
}

// NewDiffCounter returns an empty counter.
func NewDiffCounter() *DiffCounter {
	return &DiffCounter{olds: map[crypto.ID]struct{}{}, news: map[crypto.ID]struct{}{}}
}

func count(c *DiffCount, n *Node) {
	switch n.Type {
	case File:
		c.Files++
	case Dir:
		c.Dirs++
	default:
		c.Others++
	}
}

// Add counts one change.
func (d *DiffCounter) Add(c Change) {
	switch c.Kind {
	case Added:
		count(&d.stats.Added, c.New)
	case Removed:
		count(&d.stats.Removed, c.Old)
	case TypeChanged:
		count(&d.stats.Added, c.New)
		count(&d.stats.Removed, c.Old)
		d.stats.ChangedFiles++
	default:
		if c.New.Type != Dir {
			d.stats.ChangedFiles++
		}
	}
	if c.Old != nil && c.Kind != Metadata {
		for _, id := range c.Old.Content {
			d.olds[id] = struct{}{}
		}
	}
	if c.New != nil && c.Kind != Metadata {
		for _, id := range c.New.Content {
			d.news[id] = struct{}{}
		}
	}
}

// Stats returns the totals; blob sizes come from r's index.
func (d *DiffCounter) Stats(r *repo.Repository) (DiffStats, error) {
	s := d.stats
	side := func(mine, other map[crypto.ID]struct{}, c *DiffCount) error {
		for id := range mine {
			if _, ok := other[id]; ok {
				continue
			}
			c.DataBlobs++
			loc, ok, err := r.Lookup(pack.DataBlob, id)
			if err != nil {
				return err
			}
			if ok {
				c.Bytes += int64(loc.Entry.RawLength)
			}
		}
		return nil
	}
	if err := side(d.news, d.olds, &s.Added); err != nil {
		return s, err
	}
	if err := side(d.olds, d.news, &s.Removed); err != nil {
		return s, err
	}
	return s, nil
}
