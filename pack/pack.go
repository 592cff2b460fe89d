package pack

import (
	"errors"
	"fmt"

	"github.com/arcabackup/arca/crypto"
)

// Version is the pack header format version.
const Version = 1

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

// Flags of an entry.
const (
	FlagZstd uint8 = 1 << 0 // the sealed payload is zstd-compressed
)

// Entry locates one blob inside a pack.
type Entry struct {
	Type      BlobType
	Flags     uint8
	ID        crypto.ID
	Offset    uint32 // of the sealed blob from the start of the pack
	Length    uint32 // sealed length, including nonce and tag
	RawLength uint32 // plaintext length after decompression
}

// Compressed reports whether the blob's payload is zstd-compressed.
func (e Entry) Compressed() bool { return e.Flags&FlagZstd != 0 }

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// corruptErr is corrupt for a failure caused by err (such as
// crypto.ErrAuth), which it keeps in the chain.
func corruptErr(err error, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, fmt.Sprintf(format, args...), err)
}
