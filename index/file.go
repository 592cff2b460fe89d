package index

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
)

// Index file format versions: version 2 adds the list of index files a
// file supersedes. Encode writes version 1 when there is none, so that
// writers of format-1 repositories stay readable by older arca.
const (
	Version1 = 1
	Version  = 2
)

// Pack lists the blobs of one pack.
type Pack struct {
	ID      crypto.ID
	Size    int64
	Entries []pack.Entry
}

// File is the plaintext content of one index file: the packs a write
// session uploaded since its previous index file, or (written by prune and
// repair) what is left of the index files it supersedes.
type File struct {
	// Supersedes names index files this one replaces: a reader drops what
	// they listed and takes this file's list instead.
	Supersedes []crypto.ID
	Packs      []Pack
}

// Encode appends the plaintext encoding of f to dst:
//
//	version u8 (1) | npacks uvarint | npacks × pack
//	version u8 (2) | nsuper uvarint | nsuper × id | npacks uvarint | npacks × pack
//	pack = pack id [32] | size uvarint | pack header as in
//	       pack.EncodeHeader, without its version byte (entries of
//	       groups, FlagGroup, appear in repositories of format version 3)
func (f *File) Encode(dst []byte) []byte {
	size := 1 + 2*binary.MaxVarintLen64 + len(f.Supersedes)*crypto.IDSize
	for _, p := range f.Packs {
		size += crypto.IDSize + 2*binary.MaxVarintLen64 + len(p.Entries)*(2+crypto.IDSize+4*5)
	}
	dst = slices.Grow(dst, size)
	if len(f.Supersedes) == 0 {
		dst = append(dst, Version1)
	} else {
		dst = append(dst, Version)
		dst = binary.AppendUvarint(dst, uint64(len(f.Supersedes)))
		for _, id := range f.Supersedes {
			dst = append(dst, id[:]...)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(f.Packs)))
	for _, p := range f.Packs {
		dst = append(dst, p.ID[:]...)
		dst = binary.AppendUvarint(dst, uint64(p.Size))
		dst = pack.AppendEntries(dst, p.Entries)
	}
	return dst
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("index: %w: %s", pack.ErrCorrupt, fmt.Sprintf(format, args...))
}

// Decode parses an index file's plaintext.
func Decode(b []byte) (*File, error) {
	if len(b) < 1 {
		return nil, corrupt("empty index file")
	}
	version := b[0]
	if version != Version1 && version != Version {
		return nil, corrupt("version %d, want %d or %d", b[0], Version1, Version)
	}
	b = b[1:]
	var super []crypto.ID
	if version == Version {
		n, k := binary.Uvarint(b)
		if k <= 0 || n == 0 {
			return nil, corrupt("bad count of superseded files")
		}
		b = b[k:]
		if n > uint64(len(b)/crypto.IDSize) {
			return nil, corrupt("superseded files truncated")
		}
		super = make([]crypto.ID, n)
		for i := range super {
			copy(super[i][:], b)
			b = b[crypto.IDSize:]
		}
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)/(crypto.IDSize+2)) {
		return nil, corrupt("bad pack count")
	}
	b = b[k:]
	f := &File{Supersedes: super, Packs: make([]Pack, 0, n)}
	for i := range n {
		if len(b) < crypto.IDSize {
			return nil, corrupt("pack %d truncated", i)
		}
		var p Pack
		copy(p.ID[:], b)
		b = b[crypto.IDSize:]
		size, k := binary.Uvarint(b)
		if k <= 0 || size > 1<<40 {
			return nil, corrupt("pack %s: bad size", p.ID.Short())
		}
		p.Size = int64(size)
		b = b[k:]
		// The entries are a pack header without the version byte; find
		// their extent by decoding them against the pack's size.
		entries, rest, err := pack.DecodeEntries(b, pack.Version, size)
		if err != nil {
			return nil, fmt.Errorf("index: pack %s: %w", p.ID.Short(), err)
		}
		p.Entries = entries
		b = rest
		f.Packs = append(f.Packs, p)
	}
	if len(b) != 0 {
		return nil, corrupt("%d trailing bytes", len(b))
	}
	return f, nil
}
