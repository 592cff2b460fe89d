package main

import (
	"errors"
	"os"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/klauspost/compress/zstd"
)

// target is a restored file: closed (with its mode and times) once its
// last blob is written, which for a small last blob is when its group is.
type target struct {
	f       *os.File
	pending int  // blobs waiting in a group
	done    bool // every blob handed over
}

// finish closes t, timed as writing files.
func (t *target) finish(rs *stages) error {
	var err error
	rs.time("write files", func() {
		_ = t.f.Chmod(0o644)
		_ = os.Chtimes(t.f.Name(), time.Now(), time.Now())
		err = t.f.Close()
	})
	return err
}

type member struct {
	id     crypto.ID
	inner  int
	n      int
	t      *target
	offset int64
}

// pipe carries blobs through the stages after hashing: compressed (blobs
// under repo.GroupBlobMax, as arca stores them, in groups that are
// compressed once they hold repo.GroupTarget bytes), sealed and written;
// then opened, decompressed, verified and written to their files.
type pipe struct {
	bk, rs  *stages
	key     *crypto.Key
	sealer  *crypto.Sealer
	h       *crypto.IDHasher
	comp    *pack.Compressor
	dec     *zstd.Decoder
	out     *os.File
	buf     []byte // the group being filled
	members []member
	opened  []byte
	decoded []byte
}

// blob carries blob id of t, at offset in its file, through every stage.
func (p *pipe) blob(id crypto.ID, blob []byte, t *target, offset int64) error {
	if len(blob) < repo.GroupBlobMax {
		return p.add(id, blob, t, offset)
	}
	var payload []byte
	var flags uint8
	p.bk.time("compress", func() { payload, flags = p.comp.Compress(blob) })
	plain, err := p.roundTrip(payload, flags, crypto.AD(nil, pack.DataBlob.Kind(), &id))
	if err != nil {
		return err
	}
	return p.restore(id, plain, t, offset)
}

// roundTrip seals and writes payload, then opens and decompresses it. The
// result is valid until the next call.
func (p *pipe) roundTrip(payload []byte, flags uint8, ad []byte) ([]byte, error) {
	var sealed []byte
	var err error
	p.bk.time("seal", func() { sealed = p.sealer.Seal(nil, payload, ad) })
	p.bk.time("write", func() { _, err = p.out.Write(sealed) })
	if err != nil {
		return nil, err
	}
	p.rs.time("open", func() { p.opened, err = p.key.Open(p.opened[:0], sealed, ad) })
	if err != nil || flags&pack.FlagZstd == 0 {
		return p.opened, err
	}
	p.rs.time("decompress", func() { p.decoded, err = p.dec.DecodeAll(p.opened, p.decoded[:0]) })
	return p.decoded, err
}

// restore verifies plain against id and writes it to t at offset.
func (p *pipe) restore(id crypto.ID, plain []byte, t *target, offset int64) error {
	var err error
	p.rs.time("verify", func() {
		if p.h.Sum(plain) != id {
			err = errors.New("verify: ID mismatch")
		}
	})
	p.rs.time("write files", func() {
		if _, werr := t.f.WriteAt(plain, offset); werr != nil && err == nil {
			err = werr
		}
	})
	return err
}

// add copies a small blob into the group.
func (p *pipe) add(id crypto.ID, blob []byte, t *target, offset int64) error {
	p.bk.time("compress", func() {
		p.members = append(p.members, member{id, len(p.buf), len(blob), t, offset})
		p.buf = append(p.buf, blob...)
	})
	t.pending++
	if len(p.buf) >= repo.GroupTarget {
		return p.flush()
	}
	return nil
}

// flush writes the group and restores its members.
func (p *pipe) flush() error {
	if len(p.members) == 0 {
		return nil
	}
	var payload []byte
	var flags uint8
	p.bk.time("compress", func() { payload, flags = p.comp.Compress(p.buf) })
	plain, err := p.roundTrip(payload, flags, crypto.AD(nil, pack.DataBlob.GroupKind(), nil))
	if err != nil {
		return err
	}
	for _, m := range p.members {
		if err := p.restore(m.id, plain[m.inner:m.inner+m.n], m.t, m.offset); err != nil {
			return err
		}
		if m.t.pending--; m.t.pending == 0 && m.t.done {
			if err := m.t.finish(p.rs); err != nil {
				return err
			}
		}
	}
	p.buf, p.members = p.buf[:0], p.members[:0]
	return nil
}
