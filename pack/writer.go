package pack

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/arcabackup/arca/crypto"
)

// Writer builds one pack in memory. It is not safe for concurrent use.
type Writer struct {
	key     *crypto.Key
	sealer  *crypto.Sealer
	buf     []byte
	entries []Entry
	ad      []byte
}

// NewWriter starts a pack, appending to buf[:0] so callers can reuse buffers.
func NewWriter(key *crypto.Key, buf []byte) (*Writer, error) {
	s, err := key.NewSealer()
	if err != nil {
		return nil, err
	}
	return &Writer{key: key, sealer: s, buf: buf[:0]}, nil
}

// Add seals payload as blob id of type t. payload is the blob's plaintext,
// or its zstd compression when flags has FlagZstd; rawLen is the plaintext
// length either way.
func (w *Writer) Add(t BlobType, id crypto.ID, flags uint8, payload []byte, rawLen int) error {
	off := len(w.buf)
	if off+len(payload)+crypto.Overhead > math.MaxUint32 || rawLen > math.MaxUint32 {
		return fmt.Errorf("pack: blob %s does not fit in a pack", id.Short())
	}
	w.ad = crypto.AD(w.ad[:0], t.Kind(), &id)
	w.buf = w.sealer.Seal(w.buf, payload, w.ad)
	w.entries = append(w.entries, Entry{
		Type: t, Flags: flags, ID: id,
		Offset: uint32(off), Length: uint32(len(w.buf) - off), RawLength: uint32(rawLen),
	})
	return nil
}

// Size returns the number of bytes written so far.
func (w *Writer) Size() int { return len(w.buf) }

// Count returns the number of blobs added so far.
func (w *Writer) Count() int { return len(w.entries) }

// Entries returns the entries added so far. The slice must not be modified.
func (w *Writer) Entries() []Entry { return w.entries }

// Finish appends the sealed header and its length and returns the complete
// pack and its entries. The Writer must not be used afterwards.
func (w *Writer) Finish() ([]byte, []Entry) {
	hdr := EncodeHeader(nil, w.entries)
	start := len(w.buf)
	w.buf = w.sealer.Seal(w.buf, hdr, crypto.AD(nil, crypto.KindPackHeader, nil))
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(w.buf)-start))
	return w.buf, w.entries
}

// EncodeHeader appends the plaintext header for entries to dst:
//
//	version u8 | count uvarint | count × (type u8 | flags u8 | id [32] |
//	offset uvarint | length uvarint | rawlength uvarint)
func EncodeHeader(dst []byte, entries []Entry) []byte {
	dst = append(dst, Version)
	dst = binary.AppendUvarint(dst, uint64(len(entries)))
	for _, e := range entries {
		dst = append(dst, byte(e.Type), e.Flags)
		dst = append(dst, e.ID[:]...)
		dst = binary.AppendUvarint(dst, uint64(e.Offset))
		dst = binary.AppendUvarint(dst, uint64(e.Length))
		dst = binary.AppendUvarint(dst, uint64(e.RawLength))
	}
	return dst
}
