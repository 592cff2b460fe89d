package pack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/arcabackup/arca/crypto"
	"github.com/klauspost/compress/zstd"
)

// MaxHeaderSize bounds the sealed header a reader accepts (about 1.4 million
// entries), so a hostile pack cannot make ReadHeader allocate without bound.
const MaxHeaderSize = 64 << 20

// minEntrySize is the smallest encoded entry: type, flags, id and three
// one-byte varints.
const minEntrySize = 2 + crypto.IDSize + 3

// EntryOverhead is the typical size of one blob's header entry: type, flags,
// id and three varints of up to 4, 4 and 3 bytes.
const EntryOverhead = 2 + crypto.IDSize + 11

// TailSize is how many bytes at the end of a pack ReadHeader reads first;
// headers of packs with up to ~1500 blobs fit in it, larger ones cost a
// second read.
const TailSize = 64 << 10

// ReadHeader reads, authenticates and parses the header of a pack of size
// bytes from r.
func ReadHeader(key *crypto.Key, r io.ReaderAt, size int64) ([]Entry, error) {
	if size < 4+crypto.Overhead {
		return nil, corrupt("pack of %d bytes is too short", size)
	}
	n := min(int64(TailSize), size)
	tail := make([]byte, n)
	if _, err := r.ReadAt(tail, size-n); err != nil {
		return nil, fmt.Errorf("pack: read tail: %w", err)
	}
	hlen := int64(binary.LittleEndian.Uint32(tail[n-4:]))
	if hlen < crypto.Overhead || hlen > MaxHeaderSize || hlen > size-4 {
		return nil, corrupt("header length %d does not fit a pack of %d bytes", hlen, size)
	}
	var sealed []byte
	if hlen <= n-4 {
		sealed = tail[n-4-hlen : n-4]
	} else {
		sealed = make([]byte, hlen)
		if _, err := r.ReadAt(sealed, size-4-hlen); err != nil {
			return nil, fmt.Errorf("pack: read header: %w", err)
		}
	}
	plain, err := key.Open(nil, sealed, crypto.AD(nil, crypto.KindPackHeader, nil))
	if err != nil {
		return nil, corruptErr(err, "header")
	}
	return DecodeHeader(plain, uint64(size-4-hlen))
}

// DecodeHeader parses a plaintext header. dataEnd is where the blobs end
// (the sealed header's offset); every entry must lie before it, in order and
// without overlap.
func DecodeHeader(b []byte, dataEnd uint64) ([]Entry, error) {
	if len(b) < 1 {
		return nil, corrupt("empty header")
	}
	if b[0] != Version1 && b[0] != Version {
		return nil, corrupt("header version %d, want %d or %d", b[0], Version1, Version)
	}
	entries, rest, err := DecodeEntries(b[1:], b[0], dataEnd)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, corrupt("%d trailing header bytes", len(rest))
	}
	return entries, nil
}

// MaxGroupSize bounds a group's plaintext: a member must end before it.
const MaxGroupSize = 16 << 20

// DecodeEntries parses count and entries, as in a header of the given
// version, at the start of b and returns them and the rest of b. Entries
// must lie before dataEnd, in order and without overlap; the members of a
// group (FlagGroup, version 2) share its offset and length, follow each
// other in increasing order of Inner, and do not overlap in its plaintext.
func DecodeEntries(b []byte, version byte, dataEnd uint64) ([]Entry, []byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, nil, corrupt("header count")
	}
	b = b[n:]
	if count > uint64(len(b)/minEntrySize) {
		return nil, nil, corrupt("header claims %d entries in %d bytes", count, len(b))
	}
	known := FlagZstd
	if version >= Version {
		known |= FlagGroup
	}
	entries := make([]Entry, 0, count)
	var prevEnd uint64
	var prev Entry
	for i := range count {
		if len(b) < 2+crypto.IDSize {
			return nil, nil, corrupt("entry %d truncated", i)
		}
		e := Entry{Type: BlobType(b[0]), Flags: b[1]}
		if e.Type != DataBlob && e.Type != TreeBlob {
			return nil, nil, corrupt("entry %d: unknown blob type %d", i, b[0])
		}
		if e.Flags&^known != 0 {
			return nil, nil, corrupt("entry %d: unknown flags %#x", i, e.Flags)
		}
		copy(e.ID[:], b[2:2+crypto.IDSize])
		b = b[2+crypto.IDSize:]
		var vals [4]uint64
		nvals := 3
		if e.Grouped() {
			nvals = 4
		}
		for j := range nvals {
			v, n := binary.Uvarint(b)
			if n <= 0 || v > math.MaxUint32 {
				return nil, nil, corrupt("entry %d: bad varint", i)
			}
			vals[j] = v
			b = b[n:]
		}
		off, length := vals[0], vals[1]
		e.Offset, e.Length, e.RawLength, e.Inner = uint32(off), uint32(length), uint32(vals[2]), uint32(vals[3])
		if i > 0 && e.SameGroup(prev) {
			if e.Type != prev.Type || e.Flags != prev.Flags || uint64(e.Inner) < uint64(prev.Inner)+uint64(prev.RawLength) {
				return nil, nil, corrupt("entry %d: out of place in its group (previous member at %d+%d)", i, prev.Inner, prev.RawLength)
			}
		} else if off < prevEnd || length < crypto.Overhead || off+length > dataEnd {
			return nil, nil, corrupt("entry %d: blob at %d+%d is out of place (previous ends at %d, data ends at %d)", i, off, length, prevEnd, dataEnd)
		}
		prevEnd, prev = off+length, e
		switch {
		case e.Grouped():
			end := uint64(e.Inner) + uint64(e.RawLength)
			if end > MaxGroupSize || (!e.Compressed() && end > length-crypto.Overhead) {
				return nil, nil, corrupt("entry %d: blob at %d+%d lies outside its group of %d sealed bytes", i, e.Inner, e.RawLength, length)
			}
		case !e.Compressed() && uint64(e.RawLength) != length-crypto.Overhead:
			return nil, nil, corrupt("entry %d: raw length %d does not match sealed length %d", i, e.RawLength, length)
		}
		entries = append(entries, e)
	}
	return entries, b, nil
}

// payloads are the buffers compressed blobs are decrypted into before they
// are decompressed: reused, so that a restore does not allocate (and the
// kernel zero) a fresh buffer per blob.
var payloads = sync.Pool{New: func() any { return new([]byte) }}

var decoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		panic(err)
	}
	return d
}}

// ErrBlobMismatch is wrapped when a blob decrypts but its content does not
// hash to its ID.
var ErrBlobMismatch = errors.New("pack: content does not match id")

// OpenBlob authenticates and decrypts sealed (the Length bytes at
// e.Offset), decompresses it and checks that its keyed hash is e.ID. It
// appends the plaintext to dst. h, the caller's hasher, may be nil.
func OpenBlob(key *crypto.Key, h *crypto.IDHasher, e Entry, sealed, dst []byte) ([]byte, error) {
	o := Opener{key: key, h: h}
	return o.Open(e, sealed, dst)
}

// Opener opens blobs like OpenBlob and keeps the plaintext of the last
// group it opened, so that the members of one group opened one after the
// other are decrypted and decompressed once. Call Reset before the blobs
// of another pack. An Opener is not safe for concurrent use.
type Opener struct {
	key   *crypto.Key
	h     *crypto.IDHasher
	group []byte // plaintext of the group at gOff+gLen
	gOff  uint32
	gLen  uint32
	gOK   bool
}

// NewOpener returns an Opener; h, the caller's hasher, may be nil.
func NewOpener(key *crypto.Key, h *crypto.IDHasher) *Opener {
	return &Opener{key: key, h: h}
}

// Reset forgets the group kept: the next blobs are of another pack.
func (o *Opener) Reset() { o.gOK = false }

// Open is OpenBlob with o's key, hasher and kept group.
func (o *Opener) Open(e Entry, sealed, dst []byte) ([]byte, error) {
	if e.Grouped() {
		return o.openMember(e, sealed, dst) // OpenGroup checks sealed
	}
	if len(sealed) != int(e.Length) {
		return nil, corrupt("blob %s: %d sealed bytes, want %d", e.ID.Short(), len(sealed), e.Length)
	}
	ad := crypto.AD(make([]byte, 0, 40), e.Type.Kind(), &e.ID)
	start := len(dst)
	out, err := open(o.key, e, sealed, ad, dst)
	if err != nil {
		return nil, corruptErr(err, "blob %s", e.ID.Short())
	}
	if err := o.verify(e, out[start:]); err != nil {
		return nil, err
	}
	return out, nil
}

// open decrypts sealed under ad and decompresses it when e says so,
// appending the plaintext to dst.
func open(key *crypto.Key, e Entry, sealed, ad, dst []byte) ([]byte, error) {
	if !e.Compressed() {
		return key.Open(dst, sealed, ad)
	}
	buf := payloads.Get().(*[]byte)
	defer payloads.Put(buf)
	payload, err := key.Open((*buf)[:0], sealed, ad)
	if err != nil {
		return nil, err
	}
	*buf = payload
	d := decoders.Get().(*zstd.Decoder)
	out, err := d.DecodeAll(payload, dst)
	decoders.Put(d)
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	return out, nil
}

func (o *Opener) openMember(e Entry, sealed, dst []byte) ([]byte, error) {
	if !o.gOK || o.gOff != e.Offset || o.gLen != e.Length {
		o.gOK = false
		g, err := OpenGroup(o.key, e, sealed, o.group[:0])
		if err != nil {
			return nil, err
		}
		o.group, o.gOff, o.gLen, o.gOK = g, e.Offset, e.Length, true
	}
	return o.member(e, o.group, dst)
}

// OpenGroup authenticates, decrypts and decompresses sealed, the group
// that member e belongs to, and appends the group's plaintext to dst.
// Member then takes a member out of it.
func OpenGroup(key *crypto.Key, e Entry, sealed, dst []byte) ([]byte, error) {
	if len(sealed) != int(e.Length) {
		return nil, corrupt("blob %s: %d sealed bytes, want %d", e.ID.Short(), len(sealed), e.Length)
	}
	ad := crypto.AD(make([]byte, 0, 8), e.Type.GroupKind(), nil)
	g, err := open(key, e, sealed, ad, dst)
	if err != nil {
		return nil, corruptErr(err, "blob %s: its group at %d", e.ID.Short(), e.Offset)
	}
	return g, nil
}

// Member appends member e of group, the plaintext OpenGroup returned, to
// dst after checking its keyed hash; h may be nil.
func Member(key *crypto.Key, h *crypto.IDHasher, e Entry, group, dst []byte) ([]byte, error) {
	o := Opener{key: key, h: h}
	return o.member(e, group, dst)
}

func (o *Opener) member(e Entry, group, dst []byte) ([]byte, error) {
	end := uint64(e.Inner) + uint64(e.RawLength)
	if end > uint64(len(group)) {
		return nil, corrupt("blob %s: at %d+%d, past the end of its group of %d bytes", e.ID.Short(), e.Inner, e.RawLength, len(group))
	}
	plain := group[e.Inner:end]
	if err := o.verify(e, plain); err != nil {
		return nil, err
	}
	return append(dst, plain...), nil
}

// verify checks plain's length and keyed hash against e.
func (o *Opener) verify(e Entry, plain []byte) error {
	if len(plain) != int(e.RawLength) {
		return corrupt("blob %s: %d plaintext bytes, want %d", e.ID.Short(), len(plain), e.RawLength)
	}
	var got crypto.ID
	if o.h != nil {
		got = o.h.Sum(plain)
	} else {
		got = o.key.BlobID(plain)
	}
	if got != e.ID {
		return fmt.Errorf("%w: blob %s: %w", ErrCorrupt, e.ID.Short(), ErrBlobMismatch)
	}
	return nil
}
