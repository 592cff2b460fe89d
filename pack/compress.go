package pack

import (
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// Compression modes, stored in the repository config as the default.
type Compression string

// Compression modes.
const (
	CompressionOff  Compression = "off"
	CompressionAuto Compression = "auto"
	CompressionMax  Compression = "max"
)

// ParseCompression checks a mode's name.
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case CompressionOff, CompressionAuto, CompressionMax:
		return c, nil
	}
	return "", &badCompression{s}
}

type badCompression struct{ s string }

func (e *badCompression) Error() string {
	return "pack: unknown compression " + `"` + e.s + `"` + " (want off, auto or max)"
}

// minCompress is the size below which compression is not tried: the frame
// overhead eats most of what so little data could save.
const minCompress = 256

// Compressor compresses blob payloads. It is not safe for concurrent use;
// keep one per worker.
type Compressor struct {
	mode   Compression
	enc    *zstd.Encoder
	buf    []byte
	sample []byte // for compressible
	// fast: zstd's fastest level, for streams (Stream), made on first
	// use (1.5 MB).
	fast *zstd.Encoder
}

// BlobCompressor compresses one blob's payload: a *Compressor, or one
// blob of a Stream (Compressor.ForStream).
type BlobCompressor interface {
	Compress(plain []byte) ([]byte, uint8)
	// Plain returns the underlying Compressor, which compresses groups
	// of small blobs (a stream's choice of level is about its own
	// blobs).
	Plain() *Compressor
}

// Plain returns c.
func (c *Compressor) Plain() *Compressor { return c }

// NewCompressor returns a Compressor for mode: auto uses zstd's default
// level (as restic does), max its best.
func NewCompressor(mode Compression) *Compressor {
	c := &Compressor{mode: mode}
	level := zstd.SpeedDefault
	if mode == CompressionMax {
		level = zstd.SpeedBestCompression
	}
	if mode != CompressionOff {
		// A 1 MiB window covers the average chunk and bounds the
		// encoder's history buffer (8 MiB by default) per worker. Blobs are
		// authenticated and hashed, so zstd's own checksum is not needed.
		// Literals are entropy-coded even in blocks without matches:
		// small text blobs often have none, and zstd's default leaves
		// their literals raw. Measured: 8,000 blobs of 64 B-8 KiB of
		// random lowercase letters 1.00x without, 1.80x with; 8,134 Go
		// source files of 256 B-8 KiB 2.36x both, 3% slower; 4 KiB of random bytes 1.6 GB/s without,
		// 1.16 GB/s with (BenchmarkCompress/small-random;
		// TestSmallTextCompresses).
		c.enc = newEncoder(level)
	}
	return c
}

func newEncoder(level zstd.EncoderLevel) *zstd.Encoder {
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20), zstd.WithEncoderCRC(false),
		zstd.WithAllLitEntropyCompression(true))
	return enc
}

// Compress returns the payload to store for plain and its flags. The result
// is plain itself when compression is off or does not save at least 1/16
// of the size; otherwise it aliases an internal buffer valid until the next
// call.
func (c *Compressor) Compress(plain []byte) ([]byte, uint8) {
	if c.enc == nil || !c.worthTrying(plain) {
		return plain, 0
	}
	return encode(c.enc, plain, &c.buf)
}

// worthTrying reports whether plain is large enough to compress and, when
// large, whether its samples shrink.
func (c *Compressor) worthTrying(plain []byte) bool {
	return len(plain) >= minCompress && (len(plain) < probeMin || c.compressible(plain))
}

// encode compresses plain with enc into *buf and returns it, or plain when
// that does not save at least 1/16.
func encode(enc *zstd.Encoder, plain []byte, buf *[]byte) ([]byte, uint8) {
	if cap(*buf) < len(plain)+64 {
		// Room for the output and the AEAD tag, so sealing in place
		// does not copy.
		*buf = make([]byte, 0, len(plain)+64)
	}
	*buf = enc.EncodeAll(plain, (*buf)[:0])
	if len(*buf) > len(plain)-len(plain)/16 {
		return plain, 0
	}
	return *buf, FlagZstd
}

// Stream chooses, in auto mode, between zstd's default level and its
// fastest for the blobs of one large file or stream, by measuring: every
// StreamTrial-th blob (the first included) is compressed at both levels
// and stored in the smaller form, and the blobs up to the next trial use
// the level that won. The fastest level wins only when it is at least 1%
// smaller, so a trial blob is never stored larger than at the default
// level. On a database dump, where the fastest level often stores less,
// this saved a quarter of the compression time and 1.3% of the bytes; on
// program files and disk images the default level kept winning
// (docs/bench/README.md, TestStream). A Stream is safe for concurrent
// use: blobs of one stream are compressed by several workers.
type Stream struct{ fast atomic.Bool }

// StreamTrial is how often a stream measures both levels.
const StreamTrial = 32

// ForStream returns the compressor of blob i (counted from 0) of stream
// s; with s nil, blobs are compressed as by c.Compress. Its result aliases
// c's buffers, valid until c's next call.
func (c *Compressor) ForStream(s *Stream, i int) BlobCompressor {
	return streamBlob{c, s, i}
}

type streamBlob struct {
	c *Compressor
	s *Stream
	i int
}

func (b streamBlob) Plain() *Compressor { return b.c }

func (b streamBlob) Compress(plain []byte) ([]byte, uint8) {
	c := b.c
	if c.mode != CompressionAuto || b.s == nil {
		return c.Compress(plain)
	}
	if c.fast == nil {
		c.fast = newEncoder(zstd.SpeedFastest)
	}
	if !c.worthTrying(plain) {
		return plain, 0
	}
	if b.i%StreamTrial != 0 {
		if b.s.fast.Load() {
			return encode(c.fast, plain, &c.buf)
		}
		return encode(c.enc, plain, &c.buf)
	}
	// The trial, in one buffer: the fastest level first, then the
	// default; the fastest again when it won (it took 56-66% of the
	// default's time on a database dump).
	_, fastFlags := encode(c.fast, plain, &c.buf)
	fastLen := len(c.buf) // encode leaves its output in c.buf either way
	def, flags := encode(c.enc, plain, &c.buf)
	won := fastFlags != 0 && fastLen <= len(c.buf)-len(c.buf)/100
	b.s.fast.Store(won)
	if won {
		return encode(c.fast, plain, &c.buf)
	}
	return def, flags
}

// Large blobs are probed before they are compressed: compressing samples
// from three places costs a few percent of compressing the whole blob, and
// spares the whole attempt for incompressible data (media, archives,
// encrypted files), which is most of the bytes on many machines.
const (
	probeMin    = 64 << 10
	probeSample = 4 << 10
)

// compressible reports whether samples of plain shrink by at least 1/16.
func (c *Compressor) compressible(plain []byte) bool {
	c.sample = c.sample[:0]
	for _, at := range []int{0, len(plain)/2 - probeSample/2, len(plain) - probeSample} {
		c.sample = append(c.sample, plain[at:at+probeSample]...)
	}
	n := len(c.sample)
	c.buf = c.enc.EncodeAll(c.sample, c.buf[:0])
	return len(c.buf) <= n-n/16
}
