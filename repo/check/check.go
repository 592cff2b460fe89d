// Package check verifies a repository: that its index files, packs and
// snapshots agree, that every snapshot's trees and blobs exist, and, when
// asked, that every byte of (a subset of) the packs is intact. Problems
// name the object and, for lost content, the snapshots and files that
// lose it. It changes nothing but the local cache's record of damage
// (what it finds damaged is no longer deduplicated against).
package check

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
)

// Problem is one thing check found wrong.
type Problem struct {
	Object string // what is wrong: "pack <id>", "index/<id>", "snapshots/<id>", "tree <id>", ...
	Err    error
	// Notice marks what is not an error (a pack in no index file, which
	// the next backup indexes).
	Notice bool
	// Affected lists the files and directories that lose content, as
	// "snapshot <short id> <path>".
	Affected []string
}

func (p Problem) String() string { return p.Object + ": " + p.Err.Error() }

// Options configure a check.
type Options struct {
	// ReadData reads the packs Subset selects (all when it is zero) and
	// checks every byte.
	ReadData bool
	Subset   Subset
	// Stage, if not nil, is told what check does next.
	Stage func(string)
}

// Result counts what was checked and found.
type Result struct {
	Problems                            []Problem
	Errors, Notices                     int
	IndexFiles, Packs, Snapshots, Trees int
	Blobs                               int
	PacksRead                           int
	BytesRead                           int64
}

// ErrFound is returned when check found errors (listed in the result).
var ErrFound = errors.New("check: the repository has errors")

type blobKey struct {
	t  pack.BlobType
	id crypto.ID
}

type checker struct {
	ctx   context.Context
	r     *repo.Repository
	res   Result
	packs map[crypto.ID]packInfo // from the index files
	blobs map[blobKey]crypto.ID  // blob -> a pack holding it
	lost  map[blobKey]string     // blob -> the object of the problem that loses it
	probs map[string]*Problem    // by object
	order []string
}

type packInfo struct {
	size    int64
	entries []pack.Entry
}

// Run checks r.
func Run(ctx context.Context, r *repo.Repository, opts Options) (Result, error) {
	c := &checker{ctx: ctx, r: r, packs: map[crypto.ID]packInfo{}, blobs: map[blobKey]crypto.ID{},
		lost: map[blobKey]string{}, probs: map[string]*Problem{}}
	stage := func(s string) {
		if opts.Stage != nil {
			opts.Stage(s)
		}
	}
	stage("load index files")
	if err := c.loadIndex(); err != nil {
		return c.res, err
	}
	stage("check packs")
	stored, err := c.checkPacks()
	if err != nil {
		return c.res, err
	}
	stage("check snapshots, trees and blobs")
	snaps, err := c.checkSnapshots()
	if err != nil {
		return c.res, err
	}
	if opts.ReadData {
		stage("read data")
		if err := c.readData(opts.Subset.pick(stored)); err != nil {
			return c.res, err
		}
	}
	if len(c.lost) > 0 {
		stage("find the files that lose content")
		if err := c.findAffected(snaps); err != nil {
			return c.res, err
		}
	}
	for _, o := range c.order {
		p := c.probs[o]
		c.res.Problems = append(c.res.Problems, *p)
		if p.Notice {
			c.res.Notices++
		} else {
			c.res.Errors++
		}
	}
	if c.res.Errors > 0 {
		return c.res, fmt.Errorf("%w: %d errors", ErrFound, c.res.Errors)
	}
	return c.res, nil
}

func (c *checker) problem(object string, notice bool, err error) {
	if p, ok := c.probs[object]; ok {
		p.Err = errors.Join(p.Err, err)
		return
	}
	c.probs[object] = &Problem{Object: object, Err: err, Notice: notice}
	c.order = append(c.order, object)
}

func packObject(id crypto.ID) string { return "pack " + id.String() }

// loadIndex reads every index file.
func (c *checker) loadIndex() error {
	ids, err := c.r.ListFiles(c.ctx, backend.IndexFile)
	if err != nil {
		return err
	}
	for _, id := range ids {
		f, err := c.r.LoadIndexFile(c.ctx, id)
		if err != nil {
			if c.ctx.Err() != nil {
				return c.ctx.Err()
			}
			if errors.Is(err, backend.ErrNotExist) {
				continue
			}
			c.problem("index/"+id.String(), false, fmt.Errorf("cannot be read (the packs it lists are found by 'arca repair index'): %w", err))
			continue
		}
		c.res.IndexFiles++
		for _, p := range f.Packs {
			c.packs[p.ID] = packInfo{p.Size, p.Entries}
			for _, e := range p.Entries {
				c.blobs[blobKey{e.Type, e.ID}] = p.ID
			}
		}
	}
	c.res.Blobs = len(c.blobs)
	return nil
}

// checkPacks compares the packs the index lists with those stored, and
// returns the stored ones with their sizes.
func (c *checker) checkPacks() (map[crypto.ID]int64, error) {
	stored, err := c.r.ListPacks(c.ctx)
	if err != nil {
		return nil, err
	}
	c.res.Packs = len(stored)
	for id, p := range c.packs {
		size, ok := stored[id]
		switch {
		case !ok:
			c.problem(packObject(id), false, errors.New("missing (listed by an index file)"))
			c.loseAll(id, p.entries)
		case size != p.size:
			c.problem(packObject(id), false, fmt.Errorf("%d bytes, the index says %d", size, p.size))
		}
	}
	for id := range stored {
		if _, ok := c.packs[id]; !ok {
			c.problem(packObject(id), true, errors.New("in no index file (left by an interrupted backup; the next backup indexes it)"))
		}
	}
	return stored, nil
}

func (c *checker) loseAll(pid crypto.ID, entries []pack.Entry) {
	for _, e := range entries {
		k := blobKey{e.Type, e.ID}
		if c.blobs[k] == pid {
			c.lost[k] = packObject(pid)
		}
	}
}

// checkSnapshots loads every snapshot and checks that the trees and blobs
// it references are indexed and the trees readable (each tree once).
func (c *checker) checkSnapshots() ([]*snapshot.Snapshot, error) {
	ids, err := c.r.ListFiles(c.ctx, backend.SnapshotFile)
	if err != nil {
		return nil, err
	}
	var snaps []*snapshot.Snapshot
	for _, id := range ids {
		sn, err := snapshot.Load(c.ctx, c.r, id)
		if err != nil {
			if c.ctx.Err() != nil {
				return nil, c.ctx.Err()
			}
			if !errors.Is(err, backend.ErrNotExist) {
				c.problem("snapshots/"+id.String(), false, err)
			}
			continue
		}
		snaps = append(snaps, sn)
	}
	c.res.Snapshots = len(snaps)
	seen := map[crypto.ID]bool{}
	for _, sn := range snaps {
		if err := c.checkTree(sn.Tree, seen); err != nil {
			return nil, err
		}
	}
	return snaps, nil
}

func (c *checker) checkTree(id crypto.ID, seen map[crypto.ID]bool) error {
	if seen[id] {
		return nil
	}
	seen[id] = true
	if err := c.ctx.Err(); err != nil {
		return err
	}
	obj := "tree " + id.String()
	k := blobKey{pack.TreeBlob, id}
	if _, ok := c.blobs[k]; !ok {
		c.problem(obj, false, errors.New("not in any index file"))
		c.lost[k] = obj
		return nil
	}
	// From storage, not the local cache: check says what storage holds.
	buf, err := c.r.LoadStoredBlob(c.ctx, pack.TreeBlob, id, nil)
	var t *tree.Tree
	if err == nil {
		t, err = tree.Decode(buf)
	}
	if err != nil {
		if c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		c.problem(obj, false, fmt.Errorf("cannot be read: %w", err))
		if _, ok := c.lost[k]; !ok {
			c.lost[k] = obj
		}
		return nil
	}
	c.res.Trees++
	for i := range t.Nodes {
		n := &t.Nodes[i]
		for _, b := range n.Content {
			if _, ok := c.blobs[blobKey{pack.DataBlob, b}]; !ok {
				o := "data blob " + b.String()
				c.problem(o, false, errors.New("not in any index file"))
				c.lost[blobKey{pack.DataBlob, b}] = o
			}
		}
		if n.Type == tree.Dir {
			if err := c.checkTree(n.Subtree, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

// readData reads the packs given and checks every byte.
func (c *checker) readData(packs []crypto.ID) error {
	for _, id := range packs {
		pc, err := c.r.CheckPack(c.ctx, id)
		if err != nil {
			if c.ctx.Err() != nil {
				return c.ctx.Err()
			}
			c.problem(packObject(id), false, fmt.Errorf("cannot be read: %w", err))
			c.loseAll(id, c.packs[id].entries)
			continue
		}
		c.res.PacksRead++
		c.res.BytesRead += pc.Size
		if !pc.Intact {
			c.problem(packObject(id), false, errors.New("its content does not match its name"))
		}
		if pc.Header != nil {
			c.problem(packObject(id), false, fmt.Errorf("its header cannot be read: %w", pc.Header))
		} else if info, ok := c.packs[id]; ok && !slices.Equal(pc.Entries, info.entries) {
			c.problem(packObject(id), false, errors.New("its header and the index list different blobs"))
		}
		for _, e := range pc.Entries {
			if err, bad := pc.Bad[e.ID]; bad {
				c.problem(packObject(id), false, fmt.Errorf("blob %s: %w", e.ID.Short(), err))
				k := blobKey{e.Type, e.ID}
				if c.blobs[k] == id {
					c.lost[k] = packObject(id)
				}
			}
		}
	}
	return nil
}
