package mount

import (
	"context"
	"sync"
	"syscall"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// attr fills out from a tree node.
func attr(n *tree.Node, out *fuse.Attr) {
	out.Mode = fileType(n.Type) | n.Mode&0o7777
	out.Size = n.Size
	out.Uid, out.Gid = n.UID, n.GID
	out.Nlink = 1
	if n.Type == tree.File && n.Links > 1 {
		out.Nlink = uint32(n.Links)
	}
	if n.Type == tree.Symlink {
		out.Size = uint64(len(n.LinkTarget))
	}
	out.Blocks = (out.Size + 511) / 512
	out.Rdev = uint32(n.Rdev)
	at := n.AccessTime
	if at == 0 {
		at = n.ModTime
	}
	ct := n.ChangeTime
	if ct == 0 {
		ct = n.ModTime
	}
	out.Mtime, out.Mtimensec = uint64(n.ModTime/1e9), uint32(n.ModTime%1e9)
	out.Atime, out.Atimensec = uint64(at/1e9), uint32(at%1e9)
	out.Ctime, out.Ctimensec = uint64(ct/1e9), uint32(ct%1e9)
}

// fileType is the node's file type for FUSE: irregular nodes show as
// (empty) regular files.
func fileType(t tree.NodeType) uint32 {
	if u := t.UnixType(); u != 0 {
		return u
	}
	return fuse.S_IFREG
}

// entry is what every node of a snapshot has: its tree node.
type entry struct {
	fs.Inode
	r    *repo.Repository
	node *tree.Node
}

func (e *entry) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	attr(e.node, &out.Attr)
	return 0
}

func (e *entry) Getxattr(ctx context.Context, name string, dest []byte) (uint32, syscall.Errno) {
	for _, x := range e.node.Xattrs {
		if x.Name == name {
			if len(dest) < len(x.Value) {
				return uint32(len(x.Value)), syscall.ERANGE
			}
			return uint32(copy(dest, x.Value)), 0
		}
	}
	return 0, syscall.ENODATA
}

func (e *entry) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	var list []byte
	for _, x := range e.node.Xattrs {
		list = append(append(list, x.Name...), 0)
	}
	if len(dest) < len(list) {
		return uint32(len(list)), syscall.ERANGE
	}
	return uint32(copy(dest, list)), 0
}

// treeDir is a directory of a snapshot; its tree is loaded on first use.
type treeDir struct {
	entry

	once sync.Once
	t    *tree.Tree
	err  error
}

var _ = (fs.NodeLookuper)((*treeDir)(nil))
var _ = (fs.NodeReaddirer)((*treeDir)(nil))

func (d *treeDir) load(ctx context.Context) (*tree.Tree, syscall.Errno) {
	d.once.Do(func() { d.t, d.err = tree.Load(context.WithoutCancel(ctx), d.r, d.node.Subtree) })
	if d.err != nil {
		return nil, syscall.EIO
	}
	return d.t, 0
}

func (d *treeDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	t, errno := d.load(ctx)
	if errno != 0 {
		return nil, errno
	}
	n, ok := t.Find(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	attr(n, &out.Attr)
	var child fs.InodeEmbedder
	switch n.Type {
	case tree.Dir:
		child = &treeDir{entry: entry{r: d.r, node: n}}
	case tree.File:
		child = &file{entry: entry{r: d.r, node: n}}
	case tree.Symlink:
		child = &symlink{entry: entry{r: d.r, node: n}}
	default:
		child = &entry{r: d.r, node: n}
	}
	return d.NewInode(ctx, child, fs.StableAttr{Mode: fileType(n.Type)}), 0
}

func (d *treeDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	t, errno := d.load(ctx)
	if errno != 0 {
		return nil, errno
	}
	list := make([]fuse.DirEntry, 0, len(t.Nodes))
	for i := range t.Nodes {
		list = append(list, fuse.DirEntry{Name: t.Nodes[i].Name, Mode: fileType(t.Nodes[i].Type)})
	}
	return fs.NewListDirStream(list), 0
}

type symlink struct{ entry }

func (l *symlink) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.node.LinkTarget), 0
}

// file reads its content from the repository on demand.
type file struct{ entry }

var _ = (fs.NodeOpener)((*file)(nil))

// handle is an open file: where each blob starts, and the last blob read.
type handle struct {
	r       *repo.Repository
	content []crypto.ID
	starts  []int64 // starts[i] is blob i's offset; one more for the end

	mu   sync.Mutex
	last int // index of the cached blob, -1 for none
	buf  []byte
}

func (f *file) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EROFS
	}
	h := &handle{r: f.r, content: f.node.Content, starts: make([]int64, 1, len(f.node.Content)+1), last: -1}
	for _, id := range f.node.Content {
		loc, ok, err := f.r.Lookup(pack.DataBlob, id)
		if err != nil || !ok {
			return nil, 0, syscall.EIO
		}
		h.starts = append(h.starts, h.starts[len(h.starts)-1]+int64(loc.Entry.RawLength))
	}
	return h, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *file) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h := fh.(*handle)
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for n < len(dest) {
		pos := off + int64(n)
		i := findBlob(h.starts, pos)
		if i < 0 {
			break // end of file
		}
		if h.last != i {
			var err error
			h.buf, err = h.r.LoadBlob(context.WithoutCancel(ctx), pack.DataBlob, h.content[i], h.buf[:0])
			if err != nil {
				h.last = -1
				return nil, syscall.EIO
			}
			h.last = i
		}
		n += copy(dest[n:], h.buf[pos-h.starts[i]:])
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// findBlob returns the blob holding byte pos, or -1 past the end.
func findBlob(starts []int64, pos int64) int {
	lo, hi := 0, len(starts)-1
	if pos >= starts[hi] {
		return -1
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if starts[mid+1] <= pos {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
