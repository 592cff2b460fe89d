package tree

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"
	"syscall"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
)

// Version is the tree encoding version.
const Version = 1

// NodeType is the kind of file a node describes. Values are part of the
// format.
type NodeType uint8

// Node types.
const (
	File      NodeType = 1
	Dir       NodeType = 2
	Symlink   NodeType = 3
	Device    NodeType = 4 // block device
	CharDev   NodeType = 5
	FIFO      NodeType = 6
	Socket    NodeType = 7
	Irregular NodeType = 8 // anything else, recorded but not restored
)

func (t NodeType) String() string {
	switch t {
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	case Device:
		return "dev"
	case CharDev:
		return "chardev"
	case FIFO:
		return "fifo"
	case Socket:
		return "socket"
	case Irregular:
		return "irregular"
	}
	return fmt.Sprintf("nodetype(%d)", uint8(t))
}

// Xattr is one extended attribute.
type Xattr struct {
	Name  string
	Value []byte
}

// Node describes one directory entry.
type Node struct {
	Name       string // one path element, arbitrary bytes except '/' and NUL
	Type       NodeType
	Mode       uint32 // Unix permission bits with setuid, setgid and sticky (07777)
	UID, GID   uint32
	User       string
	Group      string
	Size       uint64
	ModTime    int64 // Unix nanoseconds
	AccessTime int64
	ChangeTime int64
	Inode      uint64
	Device     uint64 // st_dev of the file system holding the node
	Links      uint64
	Rdev       uint64 // device number, for device nodes
	LinkTarget string
	Xattrs     []Xattr // sorted by name
	Content    []crypto.ID
	Subtree    crypto.ID // for directories
}

// FileMode returns the node's type and permission bits as an fs.FileMode.
func (n *Node) FileMode() fs.FileMode {
	m := fs.FileMode(n.Mode & 0o777)
	if n.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch n.Type {
	case Dir:
		m |= fs.ModeDir
	case Symlink:
		m |= fs.ModeSymlink
	case Device:
		m |= fs.ModeDevice
	case CharDev:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case FIFO:
		m |= fs.ModeNamedPipe
	case Socket:
		m |= fs.ModeSocket
	case Irregular:
		m |= fs.ModeIrregular
	}
	return m
}

// UnixType returns the file-type bits (syscall.S_IFMT) of an entry of type
// t, or 0 for Irregular.
func (t NodeType) UnixType() uint32 {
	switch t {
	case File:
		return syscall.S_IFREG
	case Dir:
		return syscall.S_IFDIR
	case Symlink:
		return syscall.S_IFLNK
	case Device:
		return syscall.S_IFBLK
	case CharDev:
		return syscall.S_IFCHR
	case FIFO:
		return syscall.S_IFIFO
	case Socket:
		return syscall.S_IFSOCK
	}
	return 0
}

// Tree is one directory's entries, sorted by name.
type Tree struct {
	Nodes []Node
}

// Sort orders the nodes by name bytes and each node's xattrs by name.
func (t *Tree) Sort() {
	slices.SortFunc(t.Nodes, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	for i := range t.Nodes {
		slices.SortFunc(t.Nodes[i].Xattrs, func(a, b Xattr) int { return strings.Compare(a.Name, b.Name) })
	}
}

// Find returns the node called name, using binary search.
func (t *Tree) Find(name string) (*Node, bool) {
	i, ok := slices.BinarySearchFunc(t.Nodes, name, func(n Node, name string) int { return strings.Compare(n.Name, name) })
	if !ok {
		return nil, false
	}
	return &t.Nodes[i], true
}

// modeMask is what Mode may hold.
const modeMask = 0o7777

func appendBytes(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Encode appends the canonical encoding of t to dst. t must be sorted.
func (t *Tree) Encode(dst []byte) []byte {
	dst = append(dst, Version)
	dst = binary.AppendUvarint(dst, uint64(len(t.Nodes)))
	for i := range t.Nodes {
		n := &t.Nodes[i]
		dst = appendBytes(dst, n.Name)
		dst = append(dst, byte(n.Type))
		dst = binary.AppendUvarint(dst, uint64(n.Mode&modeMask))
		dst = binary.AppendUvarint(dst, uint64(n.UID))
		dst = binary.AppendUvarint(dst, uint64(n.GID))
		dst = appendBytes(dst, n.User)
		dst = appendBytes(dst, n.Group)
		dst = binary.AppendUvarint(dst, n.Size)
		dst = binary.AppendVarint(dst, n.ModTime)
		dst = binary.AppendVarint(dst, n.AccessTime)
		dst = binary.AppendVarint(dst, n.ChangeTime)
		dst = binary.AppendUvarint(dst, n.Inode)
		dst = binary.AppendUvarint(dst, n.Device)
		dst = binary.AppendUvarint(dst, n.Links)
		dst = binary.AppendUvarint(dst, n.Rdev)
		dst = appendBytes(dst, n.LinkTarget)
		dst = binary.AppendUvarint(dst, uint64(len(n.Xattrs)))
		for _, x := range n.Xattrs {
			dst = appendBytes(dst, x.Name)
			dst = appendBytes(dst, string(x.Value))
		}
		dst = binary.AppendUvarint(dst, uint64(len(n.Content)))
		for _, id := range n.Content {
			dst = append(dst, id[:]...)
		}
		if n.Type == Dir {
			dst = append(dst, n.Subtree[:]...)
		}
	}
	return dst
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("tree: %w: %s", pack.ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != uvarintLen(v) {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// uvarintLen is the length of v's minimal encoding; longer ones are not
// canonical and are rejected.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 || n != uvarintLen(uint64(v<<1)^uint64(v>>63)) {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail("value %d out of range", v)
	}
	return uint32(v)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("string of %d bytes with %d left", n, len(d.b))
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) id() crypto.ID {
	var id crypto.ID
	if d.err != nil {
		return id
	}
	if len(d.b) < crypto.IDSize {
		d.fail("truncated id")
		return id
	}
	copy(id[:], d.b)
	d.b = d.b[crypto.IDSize:]
	return id
}

// Decode parses an encoded tree and checks that it is canonical.
func Decode(b []byte) (*Tree, error) {
	if len(b) < 1 || b[0] != Version {
		return nil, fmt.Errorf("tree: %w: missing or unknown version", pack.ErrCorrupt)
	}
	d := &decoder{b: b[1:]}
	count := d.uvarint()
	if count > uint64(len(d.b)/20) {
		d.fail("%d nodes cannot fit in %d bytes", count, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	t := &Tree{Nodes: make([]Node, 0, count)}
	for i := uint64(0); i < count && d.err == nil; i++ {
		var n Node
		n.Name = string(d.bytes())
		n.Type = NodeType(d.byte())
		mode := d.uvarint()
		n.UID, n.GID = d.u32(), d.u32()
		n.User, n.Group = string(d.bytes()), string(d.bytes())
		n.Size = d.uvarint()
		n.ModTime, n.AccessTime, n.ChangeTime = d.varint(), d.varint(), d.varint()
		n.Inode, n.Device, n.Links, n.Rdev = d.uvarint(), d.uvarint(), d.uvarint(), d.uvarint()
		n.LinkTarget = string(d.bytes())
		nx := d.uvarint()
		if nx > uint64(len(d.b)/2) {
			d.fail("node %q: %d xattrs", n.Name, nx)
		}
		for j := uint64(0); j < nx && d.err == nil; j++ {
			name := string(d.bytes())
			value := bytes.Clone(d.bytes())
			if j > 0 && name <= n.Xattrs[j-1].Name {
				d.fail("node %q: xattrs not sorted", n.Name)
			}
			n.Xattrs = append(n.Xattrs, Xattr{Name: name, Value: value})
		}
		nc := d.uvarint()
		if nc > uint64(len(d.b)/crypto.IDSize) {
			d.fail("node %q: %d content ids", n.Name, nc)
		}
		if nc > 0 && d.err == nil {
			n.Content = make([]crypto.ID, nc)
			for j := range n.Content {
				n.Content[j] = d.id()
			}
		}
		if n.Type == Dir {
			n.Subtree = d.id()
		}
		if d.err != nil {
			break
		}
		switch {
		case mode&^uint64(modeMask) != 0:
			d.fail("node %q: mode %o has unknown bits", n.Name, mode)
		case n.Type < File || n.Type > Irregular:
			d.fail("node %q: unknown type %d", n.Name, n.Type)
		case !ValidName(n.Name):
			d.fail("invalid name %q", n.Name)
		case i > 0 && n.Name <= t.Nodes[i-1].Name:
			d.fail("names not sorted: %q after %q", n.Name, t.Nodes[i-1].Name)
		case n.Type != File && len(n.Content) > 0:
			d.fail("node %q of type %s has content", n.Name, n.Type)
		}
		n.Mode = uint32(mode)
		t.Nodes = append(t.Nodes, n)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return t, nil
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// ValidName reports whether s can name a node: not empty, not "." or "..",
// and without '/' or NUL.
func ValidName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}
