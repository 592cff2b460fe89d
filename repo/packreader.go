package repo

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/index"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/backend"
)

// PackReader reads many blobs of one pack at a time; restore uses one per
// worker. It is not safe for concurrent use.
type PackReader struct {
	r      *Repository
	opener *pack.Opener // keeps the group of the blobs being read
	// Stream reads each range of a pack as one stream, blob by blob,
	// rather than into a buffer first: the reader holds only the blob
	// at hand, so a range may span the whole pack (one request), and
	// the transfer overlaps fn's work. The stream holds its connection
	// while fn runs, so fn must not wait on the repository's backend
	// (a write session's uploads, another read).
	Stream  bool
	seg     []byte // a range read whole (not Stream)
	buf     []byte // the sealed blob at hand
	plain   []byte
	scratch []byte // the bytes between blobs
}

// NewPackReader returns a PackReader with its own buffers.
func (r *Repository) NewPackReader() *PackReader {
	return &PackReader{r: r, opener: pack.NewOpener(r.key, r.key.NewIDHasher())}
}

// Coalescing: maxGap is the largest run of unneeded bytes read rather than
// skipped between two needed blobs; maxSegment bounds one read into a
// buffer (a single larger blob is read alone), maxStream one streamed
// read.
const (
	maxGap     = 1 << 20
	maxSegment = 4 << 20
	maxStream  = 64 << 20
)

type segment struct {
	start, end int64
	entries    []pack.Entry
}

// Read reads the blobs entries of pack id, coalescing nearby blobs into
// one ranged read, verifies each one and calls fn, in offset order, with
// its plaintext (valid only during the call) or the error it met. When
// the reads cover the whole pack anyway, the pack's bytes are also checked
// against its name, which finds damage the blobs do not show (a cut tail,
// a changed header): the pack is then reported through Damage, after its
// blobs were delivered, and kept out of deduplication. It returns the
// bytes read; an error from fn or ctx stops it.
func (pr *PackReader) Read(ctx context.Context, id crypto.ID, entries []pack.Entry, fn func(e pack.Entry, plain []byte, err error) error) (int64, error) {
	r := pr.r
	pr.opener.Reset()
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b pack.Entry) int {
		return cmp.Or(cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.Inner, b.Inner))
	})
	limit := int64(maxSegment)
	if pr.Stream {
		limit = maxStream
	}
	var segs []segment
	for _, e := range entries {
		s, end := int64(e.Offset), int64(e.Offset)+int64(e.Length)
		if n := len(segs); n > 0 && s-segs[n-1].end <= maxGap && end-segs[n-1].start <= limit {
			segs[n-1].end = max(segs[n-1].end, end)
			segs[n-1].entries = append(segs[n-1].entries, e)
			continue
		}
		segs = append(segs, segment{start: s, end: end, entries: []pack.Entry{e}})
	}
	var whole *crypto.FileHasher
	if size, err := r.idx.PackSize(id); err == nil && covers(segs, size) {
		whole = crypto.NewFileHasher()
		if pr.Stream {
			segs[len(segs)-1].end = size // the header, in the same stream
		} else {
			segs = append(segs, segment{start: segs[len(segs)-1].end, end: size})
		}
	}
	h := backend.Handle{Type: backend.PackFile, Name: id.String()}
	var read int64
	blobFailed := false // a damaged blob explains a pack that fails its hash
	// fail reports a read error for entries.
	fail := func(entries []pack.Entry, err error) error {
		for _, e := range entries {
			r.noteReadError(index.Location{Pack: id, Entry: e}, err)
			if ferr := fn(e, nil, fmt.Errorf("read pack %s: %w", id.Short(), err)); ferr != nil {
				return ferr
			}
		}
		return nil
	}
	short := func(err error) { // the tail is missing
		r.markDamaged(id, 0, crypto.ID{}, reasonDamaged)
		r.Damage("pack "+id.String(), fmt.Errorf("%w: shorter than its index says: %v", ErrCorrupt, err))
	}
	for _, sg := range segs {
		src, err := pr.open(ctx, h, sg)
		if err != nil {
			if ctx.Err() != nil {
				return read, ctx.Err()
			}
			whole = nil
			if ferr := fail(sg.entries, err); ferr != nil {
				return read, ferr
			}
			if len(sg.entries) == 0 { // the header, read alone
				short(err)
			}
			continue
		}
		src.whole = whole
	blobs:
		for i, e := range sg.entries {
			sealed, err := src.next(int64(e.Offset), int64(e.Length))
			if err != nil {
				src.close()
				if ctx.Err() != nil {
					return read + src.read, ctx.Err()
				}
				whole = nil
				if ferr := fail(sg.entries[i:], err); ferr != nil {
					return read + src.read, ferr
				}
				break blobs
			}
			pr.plain, err = pr.opener.Open(e, sealed, pr.plain[:0])
			if err != nil {
				r.noteReadError(index.Location{Pack: id, Entry: e}, err)
				err = fmt.Errorf("pack %s: %w", id, err)
				blobFailed = true
			}
			if ferr := fn(e, pr.plain, err); ferr != nil {
				src.close()
				return read + src.read, ferr
			}
		}
		err = src.finish(sg.end) // the bytes after the last blob, for whole
		read += src.read
		if err != nil && src.whole != nil {
			whole = nil
			if ctx.Err() != nil {
				return read, ctx.Err()
			}
			short(err)
		}
	}
	if whole != nil && !blobFailed && whole.Sum() != id {
		r.markDamaged(id, 0, crypto.ID{}, reasonDamaged)
		r.Damage("pack "+id.String(), fmt.Errorf("%w: content does not match its name (damaged outside the blobs read, e.g. its header or tail)", ErrCorrupt))
	}
	return read, nil
}

// segmentSource hands out the bytes of one segment in offset order, from
// a stream: the backend's, or a buffer the segment was read into whole.
type segmentSource struct {
	pr    *PackReader
	rd    io.ReadCloser // nil once closed
	pos   int64         // the offset in the pack of rd's next byte
	last  []byte        // the bytes handed out last (a group's members share them)
	lastO int64
	whole *crypto.FileHasher
	read  int64
}

// open opens sg as a stream, or, unless pr.Stream, reads it into a
// buffer first, so that no connection is held while fn runs.
func (pr *PackReader) open(ctx context.Context, h backend.Handle, sg segment) (*segmentSource, error) {
	src := &segmentSource{pr: pr, pos: sg.start, lastO: -1}
	n := sg.end - sg.start
	if pr.Stream {
		rd, err := pr.r.be.Load(ctx, h, sg.start, n)
		if err != nil {
			return nil, err
		}
		src.rd = rd
		return src, nil
	}
	if int64(cap(pr.seg)) < n {
		pr.seg = make([]byte, n)
	}
	if err := backend.ReadAt(ctx, pr.r.be, h, pr.seg[:n], sg.start); err != nil {
		return nil, err
	}
	src.rd = io.NopCloser(bytes.NewReader(pr.seg[:n]))
	return src, nil
}

// next returns the n bytes at off, which is at or past the end of what
// it returned before, or the same range again.
func (s *segmentSource) next(off, n int64) ([]byte, error) {
	if off == s.lastO && int64(len(s.last)) == n {
		return s.last, nil
	}
	if err := s.skip(off); err != nil {
		return nil, err
	}
	if int64(cap(s.pr.buf)) < n {
		s.pr.buf = make([]byte, n)
	}
	b := s.pr.buf[:n]
	m, err := io.ReadFull(s.rd, b)
	s.read += int64(m)
	s.pos += int64(m)
	if err != nil {
		return nil, fmt.Errorf("read at %d+%d: %w", off, n, err)
	}
	if s.whole != nil {
		s.whole.Write(b)
	}
	s.last, s.lastO = b, off
	return b, nil
}

// skip reads the stream up to off (hashed when the pack is checked
// whole).
func (s *segmentSource) skip(off int64) error {
	for s.pos < off {
		if s.pr.scratch == nil {
			s.pr.scratch = make([]byte, 64<<10)
		}
		b := s.pr.scratch[:min(int64(len(s.pr.scratch)), off-s.pos)]
		m, err := io.ReadFull(s.rd, b)
		s.read += int64(m)
		s.pos += int64(m)
		if s.whole != nil {
			s.whole.Write(b[:m])
		}
		if err != nil {
			return fmt.Errorf("read at %d: %w", s.pos, err)
		}
	}
	return nil
}

// finish reads to end (the segment's end) when the pack is checked whole,
// and closes the stream.
func (s *segmentSource) finish(end int64) error {
	defer s.close()
	if s.whole == nil || s.rd == nil {
		return nil
	}
	return s.skip(end)
}

func (s *segmentSource) close() {
	if s.rd != nil {
		s.rd.Close()
		s.rd = nil
	}
}

// covers reports whether reading segs plus the pack's tail (its header)
// reads every byte of a pack of size bytes, with no gap skipped.
func covers(segs []segment, size int64) bool {
	if len(segs) == 0 || size <= 0 || segs[0].start != 0 {
		return false
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].start != segs[i-1].end {
			return false
		}
	}
	tail := size - segs[len(segs)-1].end
	return tail > 0 && tail <= maxGap
}
