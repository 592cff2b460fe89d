// Package dump writes what a snapshot holds to a stream: one file's
// content, or a directory as a tar or zip archive.
package dump

import (
	"archive/tar"
	"archive/zip"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/tree"
	"golang.org/x/sys/unix"
)

// Formats of Archive.
const (
	Tar = "tar"
	Zip = "zip"
)

// File writes the content of file node n to w.
func File(ctx context.Context, r *repo.Repository, n *tree.Node, w io.Writer) error {
	if n.Type != tree.File {
		return fmt.Errorf("dump: %s is a %s, not a file", n.Name, n.Type)
	}
	var buf []byte
	for _, id := range n.Content {
		var err error
		buf, err = r.LoadBlob(ctx, pack.DataBlob, id, buf[:0])
		if err != nil {
			return fmt.Errorf("dump: %s: %w", n.Name, err)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// Archive writes node n, the entry at spath in a snapshot (a directory or
// any other entry), and everything under it to w as a tar or zip archive;
// paths in the archive start with spath's last element (none for the
// snapshot's root). A directory whose tree cannot be read is reported
// through the repository's Damage, by its path in the snapshot, and left
// out.
func Archive(ctx context.Context, r *repo.Repository, n *tree.Node, spath, format string, w io.Writer) error {
	var a archiver
	switch format {
	case Tar:
		a = &tarArchiver{w: tar.NewWriter(w), links: map[[2]uint64]string{}}
	case Zip:
		a = &zipArchiver{w: zip.NewWriter(w)}
	default:
		return fmt.Errorf("dump: unknown archive format %q (want tar or zip)", format)
	}
	spath = path.Clean("/" + spath)
	name := strings.TrimPrefix(path.Base(spath), "/")
	if err := a.add(ctx, r, name, n); err != nil {
		return err
	}
	if n.Type == tree.Dir {
		err := tree.Walk(ctx, r, n.Subtree, spath, func(p string, c *tree.Node) error {
			return a.add(ctx, r, path.Join(name, strings.TrimPrefix(p, spath)), c)
		})
		if err != nil {
			return err
		}
	}
	return a.close()
}

type archiver interface {
	add(ctx context.Context, r *repo.Repository, name string, n *tree.Node) error
	close() error
}

type tarArchiver struct {
	w     *tar.Writer
	links map[[2]uint64]string
}

func (t *tarArchiver) add(ctx context.Context, r *repo.Repository, name string, n *tree.Node) error {
	if name == "" {
		return nil // the root of a whole snapshot
	}
	h := &tar.Header{
		Name: name, Mode: int64(n.Mode), Uid: int(n.UID), Gid: int(n.GID), Uname: n.User, Gname: n.Group,
		ModTime: time.Unix(0, n.ModTime), Format: tar.FormatPAX,
	}
	if n.AccessTime != 0 {
		h.AccessTime = time.Unix(0, n.AccessTime)
	}
	for _, x := range n.Xattrs {
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords["SCHILY.xattr."+x.Name] = string(x.Value)
	}
	switch n.Type {
	case tree.Dir:
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
	case tree.File:
		if n.Links > 1 {
			key := [2]uint64{n.Device, n.Inode}
			if first, ok := t.links[key]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, first
				return t.w.WriteHeader(h)
			}
			t.links[key] = name
		}
		h.Typeflag, h.Size = tar.TypeReg, int64(n.Size)
	case tree.Symlink:
		h.Typeflag, h.Linkname = tar.TypeSymlink, n.LinkTarget
	case tree.FIFO:
		h.Typeflag = tar.TypeFifo
	case tree.CharDev, tree.Device:
		h.Typeflag = tar.TypeBlock
		if n.Type == tree.CharDev {
			h.Typeflag = tar.TypeChar
		}
		h.Devmajor, h.Devminor = int64(unix.Major(n.Rdev)), int64(unix.Minor(n.Rdev))
	default:
		return nil // sockets and the like have no tar form
	}
	if err := t.w.WriteHeader(h); err != nil {
		return fmt.Errorf("dump: %s: %w", name, err)
	}
	if h.Typeflag == tar.TypeReg {
		return File(ctx, r, n, t.w)
	}
	return nil
}

func (t *tarArchiver) close() error { return t.w.Close() }

type zipArchiver struct{ w *zip.Writer }

func (z *zipArchiver) add(ctx context.Context, r *repo.Repository, name string, n *tree.Node) error {
	if name == "" {
		return nil
	}
	h := &zip.FileHeader{Name: name, Modified: time.Unix(0, n.ModTime), Method: zip.Deflate}
	switch n.Type {
	case tree.Dir:
		h.Name += "/"
		h.SetMode(n.FileMode())
	case tree.File:
		h.SetMode(n.FileMode())
		h.UncompressedSize64 = n.Size
	case tree.Symlink:
		h.SetMode(n.FileMode())
	default:
		return nil // zip has no form for FIFOs, devices and sockets
	}
	if n.Type == tree.Symlink {
		h.Method = zip.Store
	}
	f, err := z.w.CreateHeader(h)
	if err != nil {
		return fmt.Errorf("dump: %s: %w", name, err)
	}
	switch n.Type {
	case tree.File:
		return File(ctx, r, n, f)
	case tree.Symlink:
		_, err = io.WriteString(f, n.LinkTarget)
	}
	return err
}

func (z *zipArchiver) close() error { return z.w.Close() }
