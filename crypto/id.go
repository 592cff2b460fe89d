package crypto

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
)

// IDSize is the length of an ID in bytes.
const IDSize = 32

// ID names a blob or a file: a keyed BLAKE3-256 of a blob's plaintext, or the
// unkeyed BLAKE3-256 of a stored file's bytes.
type ID [IDSize]byte

// ErrInvalidID is returned when a string is not a valid hex-encoded ID.
var ErrInvalidID = errors.New("crypto: invalid id")

// Hash returns the unkeyed BLAKE3-256 of data, the name of a stored file.
func Hash(data []byte) ID { return ID(blake3.Sum256(data)) }

// FileHasher computes the name of a stored file from its bytes written in
// order, for files read piece by piece.
type FileHasher struct{ h *blake3.Hasher }

// NewFileHasher returns an empty FileHasher.
func NewFileHasher() *FileHasher { return &FileHasher{blake3.New()} }

// Write adds bytes; it never fails.
func (f *FileHasher) Write(p []byte) (int, error) { return f.h.Write(p) }

// Sum returns the ID of the bytes written so far.
func (f *FileHasher) Sum() ID {
	var id ID
	f.h.Sum(id[:0])
	return id
}

// ParseID decodes a 64-character hex string.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*IDSize {
		return id, fmt.Errorf("%w: %q has length %d, want %d", ErrInvalidID, s, len(s), 2*IDSize)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: %q: %v", ErrInvalidID, s, err)
	}
	return id, nil
}

// String returns the full lower-case hex encoding.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex characters, for messages.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsNull reports whether id is all zero.
func (id ID) IsNull() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
