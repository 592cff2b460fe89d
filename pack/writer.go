package pack

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/arcabackup/arca/crypto"
	"github.com/zeebo/blake3"
)

// Writer streams one pack to an io.Writer: sealed blobs as they are added,
// then the sealed header and its length. It computes the pack's ID (the
// BLAKE3-256 of all bytes written) on the way. It is not safe for
// concurrent use.
type Writer struct {
	key     *crypto.Key
	sealer  *crypto.Sealer
	w       io.Writer
	hash    *blake3.Hasher
	size    int
	entries []Entry
	ad      []byte
	groups  bool // a group was added: the header is version 2
}

// NewWriter starts a pack written to w.
func NewWriter(key *crypto.Key, w io.Writer) (*Writer, error) {
	s, err := key.NewSealer()
	if err != nil {
		return nil, err
	}
	return &Writer{key: key, sealer: s, w: w, hash: blake3.New()}, nil
}

func (w *Writer) write(b []byte) error {
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("pack: write: %w", err)
	}
	_, _ = w.hash.Write(b)
	w.size += len(b)
	return nil
}

// Add seals payload as blob id of type t. payload is the blob's plaintext,
// or its zstd compression when flags has FlagZstd; rawLen is the plaintext
// length either way.
//
// Add encrypts payload in place: its contents are destroyed. Give it
// crypto.TagSize bytes of spare capacity to avoid a copy.
func (w *Writer) Add(t BlobType, id crypto.ID, flags uint8, payload []byte, rawLen int) error {
	off := w.size
	if off+len(payload)+crypto.Overhead > math.MaxUint32 || rawLen > math.MaxUint32 {
		return fmt.Errorf("pack: blob %s does not fit in a pack", id.Short())
	}
	length, err := w.seal(payload, crypto.AD(w.ad[:0], t.Kind(), &id))
	if err != nil {
		return err
	}
	w.entries = append(w.entries, Entry{
		Type: t, Flags: flags, ID: id,
		Offset: uint32(off), Length: length, RawLength: uint32(rawLen),
	})
	return nil
}

// seal encrypts payload in place under ad, writes the sealed message and
// returns its length.
func (w *Writer) seal(payload, ad []byte) (uint32, error) {
	w.ad = ad
	var nonce [crypto.NonceSize]byte
	sealed := w.sealer.SealInPlace(&nonce, payload, ad)
	if err := w.write(nonce[:]); err != nil {
		return 0, err
	}
	if err := w.write(sealed); err != nil {
		return 0, err
	}
	return uint32(crypto.NonceSize + len(sealed)), nil
}

// AddGroup seals payload as one group of the blobs members (their ID,
// RawLength and Inner, the offset of each in the group's plaintext, in
// increasing order without overlap) of type t. payload is the group's
// plaintext, or its zstd compression when flags has FlagZstd. Like Add,
// it encrypts payload in place.
func (w *Writer) AddGroup(t BlobType, flags uint8, payload []byte, members []Entry) error {
	off := w.size
	if len(members) == 0 || off+len(payload)+crypto.Overhead > math.MaxUint32 {
		return fmt.Errorf("pack: a group of %d blobs does not fit in a pack", len(members))
	}
	length, err := w.seal(payload, crypto.AD(w.ad[:0], t.GroupKind(), nil))
	if err != nil {
		return err
	}
	for _, m := range members {
		w.entries = append(w.entries, Entry{
			Type: t, Flags: flags | FlagGroup, ID: m.ID,
			Offset: uint32(off), Length: length,
			RawLength: m.RawLength, Inner: m.Inner,
		})
	}
	w.groups = true
	return nil
}

// Size returns the number of bytes written so far.
func (w *Writer) Size() int { return w.size }

// Count returns the number of blobs added so far.
func (w *Writer) Count() int { return len(w.entries) }

// Finish writes the sealed header and its length and returns the pack's
// ID, size and entries. The Writer must not be used afterwards.
func (w *Writer) Finish() (crypto.ID, int64, []Entry, error) {
	version := byte(Version1)
	if w.groups {
		version = Version
	}
	hdr := EncodeHeader(nil, version, w.entries)
	sealed := w.sealer.Seal(nil, hdr, crypto.AD(nil, crypto.KindPackHeader, nil))
	sealed = binary.LittleEndian.AppendUint32(sealed, uint32(len(sealed)))
	if err := w.write(sealed); err != nil {
		return crypto.ID{}, 0, nil, err
	}
	var id crypto.ID
	w.hash.Sum(id[:0])
	return id, int64(w.size), w.entries, nil
}

// EncodeHeader appends the plaintext header of the given version for
// entries to dst:
//
//	version u8 | count uvarint | count × entry
//	entry = type u8 | flags u8 | id [32] | offset uvarint | length uvarint
//	        | rawlength uvarint [| inner uvarint (FlagGroup, version 2)]
func EncodeHeader(dst []byte, version byte, entries []Entry) []byte {
	dst = append(dst, version)
	return AppendEntries(dst, entries)
}

// AppendEntries appends count and entries as in a header (index files
// hold them in the same encoding).
func AppendEntries(dst []byte, entries []Entry) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(entries)))
	for _, e := range entries {
		dst = append(dst, byte(e.Type), e.Flags)
		dst = append(dst, e.ID[:]...)
		dst = binary.AppendUvarint(dst, uint64(e.Offset))
		dst = binary.AppendUvarint(dst, uint64(e.Length))
		dst = binary.AppendUvarint(dst, uint64(e.RawLength))
		if e.Grouped() {
			dst = binary.AppendUvarint(dst, uint64(e.Inner))
		}
	}
	return dst
}
