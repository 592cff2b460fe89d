package check

import (
	"fmt"
	"path"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
)

// findAffected walks every snapshot and lists, on the problem that loses
// them, the files and directories whose content is lost.
func (c *checker) findAffected(snaps []*snapshot.Snapshot) error {
	memo := map[crypto.ID][]affected{} // tree -> lost entries below it, relative
	for _, sn := range snaps {
		list, err := c.affectedIn(sn.Tree, memo)
		if err != nil {
			return err
		}
		for _, a := range list {
			p := c.probs[a.object]
			p.Affected = append(p.Affected, fmt.Sprintf("snapshot %s %s", sn.ID.Short(), path.Join("/", a.path)))
		}
	}
	return nil
}

type affected struct {
	object, path string
}

func (c *checker) affectedIn(id crypto.ID, memo map[crypto.ID][]affected) ([]affected, error) {
	if list, ok := memo[id]; ok {
		return list, nil
	}
	memo[id] = nil // a cycle cannot be, but a lost tree must not be read twice
	if o, lost := c.lost[blobKey{pack.TreeBlob, id}]; lost {
		memo[id] = []affected{{o, ""}}
		return memo[id], nil
	}
	t, err := tree.Load(c.ctx, c.r, id)
	if err != nil {
		return nil, c.ctx.Err() // reported by checkTree
	}
	var out []affected
	for i := range t.Nodes {
		n := &t.Nodes[i]
		for _, b := range n.Content {
			if o, lost := c.lost[blobKey{pack.DataBlob, b}]; lost {
				out = append(out, affected{o, n.Name})
				break
			}
		}
		if n.Type == tree.Dir {
			sub, err := c.affectedIn(n.Subtree, memo)
			if err != nil {
				return nil, err
			}
			for _, a := range sub {
				out = append(out, affected{a.object, path.Join(n.Name, a.path)})
			}
		}
	}
	memo[id] = out
	return out, nil
}
