// Package find searches snapshots for paths matching patterns.
package find

import (
	"context"
	"fmt"
	"path"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/filter"
	"github.com/arcabackup/arca/repo/tree"
)

// Match is one matching entry.
type Match struct {
	Path string
	Node tree.Node
}

// memoLimit bounds the matches remembered for one directory; larger
// results are searched again when another snapshot holds the directory.
const memoLimit = 10_000

type memoKey struct {
	id  crypto.ID
	dir string
}

// Finder searches trees for entries whose path matches any of its
// patterns (docs/filters.md; a pattern without "/" matches the name at any
// depth). It remembers the results for each directory, so searching many
// snapshots that share most of their trees reads each shared tree once.
type Finder struct {
	r        *repo.Repository
	patterns []filter.Pattern
	memo     map[memoKey][]Match
}

// New parses patterns; fold makes them case-insensitive.
func New(r *repo.Repository, patterns []string, fold bool) (*Finder, error) {
	f := &Finder{r: r, memo: map[memoKey][]Match{}}
	for _, s := range patterns {
		p, err := filter.Parse(s, fold)
		if err != nil {
			return nil, err
		}
		if p.Negated() {
			return nil, fmt.Errorf("find: pattern %q: negation has no meaning here", s)
		}
		f.patterns = append(f.patterns, p)
	}
	return f, nil
}

func (f *Finder) matches(p string) bool {
	for _, pt := range f.patterns {
		if pt.MatchPath(p) {
			return true
		}
	}
	return false
}

func (f *Finder) mayMatchBelow(dir string) bool {
	for _, pt := range f.patterns {
		if pt.MayMatchBelow(dir) {
			return true
		}
	}
	return false
}

// Find returns the matches in the snapshot tree root, in path order.
func (f *Finder) Find(ctx context.Context, root crypto.ID) ([]Match, error) {
	return f.dir(ctx, root, "/")
}

func (f *Finder) dir(ctx context.Context, id crypto.ID, dir string) ([]Match, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k := memoKey{id, dir}
	if m, ok := f.memo[k]; ok {
		return m, nil
	}
	t, err := tree.LoadOrSkip(ctx, f.r, id, dir)
	if t == nil {
		return nil, err
	}
	var out []Match
	for i := range t.Nodes {
		n := &t.Nodes[i]
		p := path.Join(dir, n.Name)
		if f.matches(p) {
			m := Match{Path: p, Node: *n}
			m.Node.Content = nil
			out = append(out, m)
		}
		if n.Type == tree.Dir && f.mayMatchBelow(p) {
			sub, err := f.dir(ctx, n.Subtree, p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	if len(out) <= memoLimit {
		f.memo[k] = out
	}
	return out, nil
}
