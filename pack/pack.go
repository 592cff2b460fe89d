package pack

import (
	"errors"
	"fmt"

	"github.com/arcabackup/arca/crypto"
)

// Pack header format versions. Version 2 adds blob groups (FlagGroup);
// a writer writes version 1 for a pack without groups, so that packs of
// repositories of format version 1 and 2 stay readable by arca before
// groups.
const (
	Version1 = 1
	Version  = 2
)

// ErrCorrupt is wrapped by every error that reports stored data failing a
// format or integrity check.
var ErrCorrupt = errors.New("pack: corrupt")

// BlobType separates file contents from tree (directory) blobs.
type BlobType uint8

// Blob types. Values are part of the format.
const (
	DataBlob BlobType = 1
	TreeBlob BlobType = 2
)

func (t BlobType) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	}
	return fmt.Sprintf("blobtype(%d)", uint8(t))
}

// Kind returns the crypto kind bound into the blob's associated data.
func (t BlobType) Kind() crypto.Kind {
	if t == TreeBlob {
		return crypto.KindTreeBlob
	}
	return crypto.KindDataBlob
}

// GroupKind returns the crypto kind bound into the associated data of a
// group of blobs of type t.
func (t BlobType) GroupKind() crypto.Kind {
	if t == TreeBlob {
		return crypto.KindTreeGroup
	}
	return crypto.KindDataGroup
}

// Flags of an entry.
const (
	FlagZstd  uint8 = 1 << 0 // the sealed payload is zstd-compressed
	FlagGroup uint8 = 1 << 1 // the blob is one of a group sealed together
)

// Entry locates one blob inside a pack. A blob of a group (FlagGroup) is
// the RawLength bytes at Inner of the group's plaintext; Offset and Length
// then locate the sealed group, which its other members share.
type Entry struct {
	Type      BlobType
	Flags     uint8
	ID        crypto.ID
	Offset    uint32 // of the sealed blob (or group) from the start of the pack
	Length    uint32 // sealed length, including nonce and tag
	RawLength uint32 // plaintext length after decompression
	Inner     uint32 // offset in the group's plaintext (groups only)
}

// Compressed reports whether the blob's payload is zstd-compressed.
func (e Entry) Compressed() bool { return e.Flags&FlagZstd != 0 }

// Grouped reports whether the blob is a member of a group.
func (e Entry) Grouped() bool { return e.Flags&FlagGroup != 0 }

// SameGroup reports whether e and o are members of one group (of one
// pack).
func (e Entry) SameGroup(o Entry) bool {
	return e.Grouped() && o.Grouped() && e.Offset == o.Offset && e.Length == o.Length
}

// Shares returns the stored bytes each of a pack's entries accounts for:
// its sealed length, or for a member of a group its share of the group's
// sealed length in proportion to its plaintext (the members of a group
// listed in entries share all of it).
func Shares(entries []Entry) []int64 {
	shares := make([]int64, len(entries))
	type key struct{ off, length uint32 }
	raw := map[key]int64{}
	for _, e := range entries {
		if e.Grouped() {
			raw[key{e.Offset, e.Length}] += int64(e.RawLength)
		}
	}
	for i, e := range entries {
		shares[i] = int64(e.Length)
		if total := raw[key{e.Offset, e.Length}]; e.Grouped() && total > 0 {
			shares[i] = int64(e.Length) * int64(e.RawLength) / total
		}
	}
	return shares
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// corruptErr is corrupt for a failure caused by err (such as
// crypto.ErrAuth), which it keeps in the chain.
func corruptErr(err error, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, fmt.Sprintf(format, args...), err)
}
