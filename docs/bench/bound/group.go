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

// grouper does with blobs under repo.GroupBlobMax what arca does: copies
// them into a group, which is compressed, sealed and written once it holds
// repo.GroupTarget bytes; then opens and decompresses the group and
// verifies and writes each member to its file (restore).
type grouper struct {
	bk, rs  *stages
	key     *crypto.Key
	sealer  *crypto.Sealer
	h       *crypto.IDHasher
	comp    *pack.Compressor
	dec     *zstd.Decoder
	out     *os.File
	buf     []byte
	members []member
	opened  []byte
	decoded []byte
}

// add hands over blob id of t at offset.
func (g *grouper) add(id crypto.ID, blob []byte, t *target, offset int64) error {
	g.bk.time("compress", func() {
		g.members = append(g.members, member{id, len(g.buf), len(blob), t, offset})
		g.buf = append(g.buf, blob...)
	})
	t.pending++
	if len(g.buf) >= repo.GroupTarget {
		return g.flush()
	}
	return nil
}

// flush writes the group and restores its members.
func (g *grouper) flush() error {
	if len(g.members) == 0 {
		return nil
	}
	var payload []byte
	var flags uint8
	g.bk.time("compress", func() { payload, flags = g.comp.Compress(g.buf) })
	ad := crypto.AD(nil, pack.DataBlob.GroupKind(), nil)
	var sealed []byte
	var err error
	g.bk.time("seal", func() { sealed = g.sealer.Seal(nil, payload, ad) })
	g.bk.time("write", func() { _, err = g.out.Write(sealed) })
	if err != nil {
		return err
	}
	g.rs.time("open", func() { g.opened, err = g.key.Open(g.opened[:0], sealed, ad) })
	if err != nil {
		return err
	}
	plain := g.opened
	if flags&pack.FlagZstd != 0 {
		g.rs.time("decompress", func() { g.decoded, err = g.dec.DecodeAll(g.opened, g.decoded[:0]) })
		plain = g.decoded
	}
	for _, m := range g.members {
		b := plain[m.inner : m.inner+m.n]
		g.rs.time("verify", func() {
			if g.h.Sum(b) != m.id {
				err = errors.New("verify: ID mismatch in a group")
			}
		})
		g.rs.time("write files", func() {
			if _, werr := m.t.f.WriteAt(b, m.offset); werr != nil && err == nil {
				err = werr
			}
		})
		if err != nil {
			return err
		}
		if m.t.pending--; m.t.pending == 0 && m.t.done {
			if err := m.t.finish(g.rs); err != nil {
				return err
			}
		}
	}
	g.buf, g.members = g.buf[:0], g.members[:0]
	return nil
}
