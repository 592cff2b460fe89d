package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/restic/chunker"
)

// RunStdin stores the stream rd as a snapshot holding one file, name (a
// plain file name, e.g. "db.sql"), at the root; the snapshot's path is
// "/name". After rd reaches EOF and before anything is recorded, finish
// (if not nil) is called: when it returns an error, for instance because
// the command producing the stream failed, no snapshot is saved. opts.Paths
// is ignored.
func RunStdin(ctx context.Context, r *repo.Repository, rd io.Reader, name string, finish func() error, opts Options) (*snapshot.Snapshot, error) {
	start := time.Now()
	if !tree.ValidName(name) {
		return nil, fmt.Errorf("backup: invalid stdin file name %q", name)
	}
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	if err := recoverPacks(ctx, r, opts); err != nil {
		return nil, err
	}
	a := newArchiver(ctx, r, opts)
	defer a.pool.close()
	node, err := a.storeStream(rd, name)
	if err == nil && finish != nil {
		err = finish()
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = a.fatalErr()
	}
	if err != nil {
		a.w.Close()
		return nil, err
	}
	if opts.Parent != nil {
		if old, err := tree.Lookup(ctx, r, opts.Parent.Tree, name); err == nil && old.Type == tree.File {
			if equalIDs(old.Content, node.Content) {
				a.filesUnmodified.Add(1)
			} else {
				a.filesChanged.Add(1)
			}
		} else {
			a.filesNew.Add(1)
		}
	} else {
		a.filesNew.Add(1)
	}
	a.prog.Files.Add(1)
	comp := <-a.comps
	root, saved, err := tree.Save(a.w, &tree.Tree{Nodes: []tree.Node{node}}, comp)
	a.comps <- comp
	if err != nil {
		a.w.Close()
		return nil, err
	}
	if saved.Stored > 0 {
		a.treeBlobs.Add(1)
	}
	if opts.Parent != nil && opts.Parent.Tree == root {
		a.dirsUnmodified.Add(1)
	} else if opts.Parent != nil {
		a.dirsChanged.Add(1)
	} else {
		a.dirsNew.Add(1)
	}
	return a.commit(start, []string{"/" + name}, root)
}

func equalIDs(a, b []crypto.ID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// storeStream chunks rd into data blobs and returns the file's node.
func (a *archiver) storeStream(rd io.Reader, name string) (tree.Node, error) {
	now := time.Now().UnixNano()
	n := tree.Node{
		Name: name, Type: tree.File, Mode: 0o600, UID: uint32(os.Getuid()), GID: uint32(os.Getgid()),
		ModTime: now, AccessTime: now, ChangeTime: now, Links: 1,
	}
	n.User, n.Group = a.names.user(n.UID), a.names.group(n.GID)
	ch := chunker.NewWithBoundaries(nil, a.cfg.ChunkerPolynomial, a.cfg.ChunkMin, a.cfg.ChunkMax)
	cf, read, err := a.chunk(ch, rd, name, true)
	if errors.Is(err, errStopped) {
		if err := a.ctx.Err(); err != nil {
			return n, err
		}
		return n, a.fatalErr()
	}
	if err != nil {
		return n, fmt.Errorf("backup: read %s: %w", name, err)
	}
	n.Content, n.Size = cf.ids, uint64(read)
	return n, nil
}
