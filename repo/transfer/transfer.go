// Package transfer copies snapshots from one repository to another, with
// other keys or on other storage: `arca copy`. Blob IDs are keyed by each
// repository's master key, so every tree is rewritten with the IDs the
// destination gives its blobs; only blobs the destination lacks are stored.
// A copied snapshot records the source snapshot it came from (copied_from),
// so a snapshot copied before is skipped. The trees copied are remembered
// in the destination's cache (source tree -> destination tree), so that a
// later copy walks only the directories that changed.
package transfer

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
)

// Options tune a copy.
type Options struct {
	// Log, if not nil, is told of each snapshot copied or skipped.
	Log func(msg string)
}

// Result says what a copy did.
type Result struct {
	Copied      []Copied `json:"copied"`
	Skipped     int      `json:"skipped"`      // copied before
	TreesCopied int      `json:"trees_copied"` // trees rewritten
	BlobsRead   int      `json:"blobs_read"`   // data blobs read from the source
	BlobsStored int      `json:"blobs_stored"` // data blobs the destination lacked
	BytesStored int64    `json:"bytes_stored"` // what they added to the destination
}

// Copied pairs a source snapshot with its copy.
type Copied struct {
	Source crypto.ID `json:"source"`
	Copy   crypto.ID `json:"copy"`
}

// Origin is the identity a copy records: the snapshot's ID when its backup
// saved it.
func Origin(sn *snapshot.Snapshot) crypto.ID {
	if sn.CopiedFrom != nil {
		return *sn.CopiedFrom
	}
	if sn.Original != nil {
		return *sn.Original
	}
	return sn.ID
}

type copier struct {
	ctx      context.Context
	src, dst *repo.Repository
	w        *repo.Writer
	comp     *pack.Compressor
	trees    map[crypto.ID]crypto.ID // source tree -> destination tree
	blobs    map[crypto.ID]crypto.ID // source data blob -> destination (this run)
	mapFile  *os.File
	res      *Result
}

// Run copies snaps (of src) to dst, oldest first, skipping those dst holds
// a copy of. The caller has announced itself as a writer of dst.
func Run(ctx context.Context, src, dst *repo.Repository, snaps []*snapshot.Snapshot, opts Options) (*Result, error) {
	res := &Result{Copied: []Copied{}}
	have, err := snapshot.List(ctx, dst)
	if err != nil {
		return res, err
	}
	copied := map[crypto.ID]crypto.ID{} // origin -> destination snapshot
	for _, sn := range have {
		copied[Origin(sn)] = sn.ID
	}
	c := &copier{ctx: ctx, src: src, dst: dst, trees: map[crypto.ID]crypto.ID{}, blobs: map[crypto.ID]crypto.ID{}, res: res}
	c.loadTreeMap()
	defer func() {
		if c.mapFile != nil {
			c.mapFile.Close()
		}
	}()
	for _, sn := range snaps {
		origin := Origin(sn)
		if id, ok := copied[origin]; ok {
			res.Skipped++
			if opts.Log != nil {
				opts.Log(fmt.Sprintf("snapshot %s: copied before, as %s", sn.ID.Short(), id.Short()))
			}
			continue
		}
		id, err := c.snapshot(sn, origin, copied)
		if err != nil {
			return res, fmt.Errorf("copy snapshot %s: %w", sn.ID.Short(), err)
		}
		copied[origin] = id
		res.Copied = append(res.Copied, Copied{Source: sn.ID, Copy: id})
		if opts.Log != nil {
			opts.Log(fmt.Sprintf("snapshot %s copied as %s", sn.ID.Short(), id.Short()))
		}
	}
	return res, nil
}

// snapshot copies one snapshot's trees and blobs, then saves the copy.
func (c *copier) snapshot(sn *snapshot.Snapshot, origin crypto.ID, copied map[crypto.ID]crypto.ID) (crypto.ID, error) {
	c.w = c.dst.NewWriter(c.ctx, repo.WriterOptions{})
	c.comp = c.w.NewCompressor()
	root, err := c.tree(sn.Tree)
	if err == nil {
		err = c.w.Flush()
	}
	st := c.w.Stats()
	c.res.BytesStored += st.StoredBytes
	if cerr := c.w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return crypto.ID{}, err
	}
	cp := *sn
	cp.Tree = root
	cp.CopiedFrom = &origin
	cp.Original, cp.Replaces, cp.Merges, cp.TagsAdded, cp.TagsRemoved = nil, nil, nil, nil, nil
	cp.Parent = nil
	if sn.Parent != nil {
		if p, ok := copied[*sn.Parent]; ok {
			cp.Parent = &p
		}
	}
	return snapshot.Save(c.ctx, c.dst, &cp)
}

// tree copies source tree id and returns its ID in the destination.
func (c *copier) tree(id crypto.ID) (crypto.ID, error) {
	if d, ok := c.trees[id]; ok {
		if have, err := c.dst.Available(pack.TreeBlob, d); err == nil && have {
			return d, nil
		}
	}
	t, err := tree.Load(c.ctx, c.src, id)
	if err != nil {
		return crypto.ID{}, err
	}
	if err := c.fetch(t); err != nil {
		return crypto.ID{}, err
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if n.Type == tree.Dir {
			if n.Subtree, err = c.tree(n.Subtree); err != nil {
				return crypto.ID{}, err
			}
			continue
		}
		for j, b := range n.Content {
			if n.Content[j], err = c.blob(b); err != nil {
				return crypto.ID{}, fmt.Errorf("%s: %w", n.Name, err)
			}
		}
	}
	d, _, err := tree.Save(c.w, t, c.comp)
	if err != nil {
		return crypto.ID{}, err
	}
	c.res.TreesCopied++
	c.trees[id] = d
	c.rememberTree(id, d)
	return d, nil
}

// fetch copies the data blobs of a directory's files that this run has not
// copied yet, reading them pack by pack (nearby blobs in one request)
// rather than one request per blob. Blobs a pack read fails for are left
// to blob, which tries their other copies.
func (c *copier) fetch(t *tree.Tree) error {
	byPack := map[crypto.ID][]pack.Entry{}
	want := map[crypto.ID]bool{}
	for i := range t.Nodes {
		for _, b := range t.Nodes[i].Content {
			if _, done := c.blobs[b]; done || want[b] {
				continue
			}
			loc, ok, err := c.src.Lookup(pack.DataBlob, b)
			if err != nil {
				return err
			}
			if ok && c.src.Usable(loc) {
				want[b] = true
				byPack[loc.Pack] = append(byPack[loc.Pack], loc.Entry)
			}
		}
	}
	pr := c.src.NewPackReader()
	for p, entries := range byPack {
		var failed error
		_, err := pr.Read(c.ctx, p, entries, func(e pack.Entry, plain []byte, err error) error {
			if err != nil {
				return nil // blob tries the other copies
			}
			c.res.BlobsRead++
			// plain is the reader's buffer; the writer may keep what it is given.
			if err := c.store(e.ID, append([]byte(nil), plain...)); err != nil && failed == nil {
				failed = err
			}
			return nil
		})
		if failed != nil {
			return failed
		}
		if err != nil && c.ctx.Err() != nil {
			return err
		}
	}
	return nil
}

// store saves the plaintext of source data blob id in the destination.
func (c *copier) store(id crypto.ID, plain []byte) error {
	d := c.dst.BlobID(plain)
	n, err := c.w.SaveBlob(pack.DataBlob, d, plain, c.comp)
	if err != nil {
		return err
	}
	if n > 0 {
		c.res.BlobsStored++
	}
	c.blobs[id] = d
	return nil
}

// blob copies source data blob id if the destination lacks it.
func (c *copier) blob(id crypto.ID) (crypto.ID, error) {
	if d, ok := c.blobs[id]; ok {
		return d, nil
	}
	plain, err := c.src.LoadBlob(c.ctx, pack.DataBlob, id, nil)
	if err != nil {
		return crypto.ID{}, err
	}
	c.res.BlobsRead++
	if err := c.store(id, plain); err != nil {
		return crypto.ID{}, err
	}
	return c.blobs[id], nil
}

// mapPath is the file of source -> destination trees in dst's cache.
func (c *copier) mapPath() string {
	return filepath.Join(c.dst.CacheDir(), "copied-trees-"+c.src.Config().ID.String())
}

// loadTreeMap reads the trees earlier copies made; lines that do not
// parse (a run killed mid-line) are skipped, and every entry is checked
// against the destination's index before use.
func (c *copier) loadTreeMap() {
	f, err := os.Open(c.mapPath())
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s, d string
		if _, err := fmt.Sscanf(sc.Text(), "%s %s", &s, &d); err != nil {
			continue
		}
		sid, err1 := crypto.ParseID(s)
		did, err2 := crypto.ParseID(d)
		if err1 == nil && err2 == nil {
			c.trees[sid] = did
		}
	}
}

// rememberTree appends a copied tree to the map file; failures only cost
// a later copy a walk.
func (c *copier) rememberTree(src, dst crypto.ID) {
	if c.mapFile == nil {
		f, err := os.OpenFile(c.mapPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return
		}
		c.mapFile = f
	}
	fmt.Fprintf(c.mapFile, "%s %s\n", src, dst)
}
