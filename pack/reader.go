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
	if b[0] != Version {
		return nil, corrupt("header version %d, want %d", b[0], Version)
	}
	b = b[1:]
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, corrupt("header count")
	}
	b = b[n:]
	if count > uint64(len(b)/minEntrySize) {
		return nil, corrupt("header claims %d entries in %d bytes", count, len(b))
	}
	entries := make([]Entry, 0, count)
	var prevEnd uint64
	for i := range count {
		if len(b) < 2+crypto.IDSize {
			return nil, corrupt("entry %d truncated", i)
		}
		e := Entry{Type: BlobType(b[0]), Flags: b[1]}
		if e.Type != DataBlob && e.Type != TreeBlob {
			return nil, corrupt("entry %d: unknown blob type %d", i, b[0])
		}
		if e.Flags&^FlagZstd != 0 {
			return nil, corrupt("entry %d: unknown flags %#x", i, e.Flags)
		}
		copy(e.ID[:], b[2:2+crypto.IDSize])
		b = b[2+crypto.IDSize:]
		var vals [3]uint64
		for j := range vals {
			v, n := binary.Uvarint(b)
			if n <= 0 || v > math.MaxUint32 {
				return nil, corrupt("entry %d: bad varint", i)
			}
			vals[j] = v
			b = b[n:]
		}
		off, length := vals[0], vals[1]
		if off < prevEnd || length < crypto.Overhead || off+length > dataEnd {
			return nil, corrupt("entry %d: blob at %d+%d is out of place (previous ends at %d, data ends at %d)", i, off, length, prevEnd, dataEnd)
		}
		prevEnd = off + length
		e.Offset, e.Length, e.RawLength = uint32(off), uint32(length), uint32(vals[2])
		if !e.Compressed() && uint64(e.RawLength) != length-crypto.Overhead {
			return nil, corrupt("entry %d: raw length %d does not match sealed length %d", i, e.RawLength, length)
		}
		entries = append(entries, e)
	}
	if len(b) != 0 {
		return nil, corrupt("%d trailing header bytes", len(b))
	}
	return entries, nil
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
	if len(sealed) != int(e.Length) {
		return nil, corrupt("blob %s: %d sealed bytes, want %d", e.ID.Short(), len(sealed), e.Length)
	}
	ad := crypto.AD(make([]byte, 0, 40), e.Type.Kind(), &e.ID)
	start := len(dst)
	var out []byte
	var err error
	if e.Compressed() {
		buf := payloads.Get().(*[]byte)
		defer payloads.Put(buf)
		payload, err := key.Open((*buf)[:0], sealed, ad)
		if err != nil {
			return nil, corruptErr(err, "blob %s", e.ID.Short())
		}
		*buf = payload
		d := decoders.Get().(*zstd.Decoder)
		out, err = d.DecodeAll(payload, dst)
		decoders.Put(d)
		if err != nil {
			return nil, corruptErr(err, "blob %s: decompress", e.ID.Short())
		}
	} else {
		out, err = key.Open(dst, sealed, ad)
		if err != nil {
			return nil, corruptErr(err, "blob %s", e.ID.Short())
		}
	}
	plain := out[start:]
	if len(plain) != int(e.RawLength) {
		return nil, corrupt("blob %s: %d plaintext bytes, want %d", e.ID.Short(), len(plain), e.RawLength)
	}
	var got crypto.ID
	if h != nil {
		got = h.Sum(plain)
	} else {
		got = key.BlobID(plain)
	}
	if got != e.ID {
		return nil, fmt.Errorf("%w: blob %s: %w", ErrCorrupt, e.ID.Short(), ErrBlobMismatch)
	}
	return out, nil
}
