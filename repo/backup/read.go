package backup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/restic/chunker"
)

// worker reads files. It keeps its own buffer, hasher and compressor for
// small files for the whole backup.
type worker struct {
	buf  []byte
	h    *crypto.IDHasher
	comp *pack.Compressor
}

// bigBuffers chunk one large file at a time.
type bigBuffers struct {
	ch   *chunker.Chunker
	buf  []byte
	comp *pack.Compressor
}

func (a *archiver) worker() {
	wk := &worker{
		buf:  make([]byte, 0, 64<<10),
		h:    a.r.NewIDHasher(),
		comp: a.w.NewCompressor(),
	}
	for job := range a.jobs {
		if !a.stopped() {
			a.prog.start(job.path)
			start := time.Now()
			ok, added, stored := a.readFile(wk, job.path, &job.fut.node)
			a.prog.done(job.path)
			job.fut.ok = ok
			if ok {
				a.prog.Files.Add(1)
				a.report(Item{Action: job.action, Path: job.path, Duration: time.Since(start), DataAdded: added, DataStored: stored})
			}
		}
		close(job.fut.done)
	}
}

// readFile stores the content of path into node. It returns false if the
// file was skipped, and the plaintext and stored bytes of the new blobs.
func (a *archiver) readFile(wk *worker, path string, node *tree.Node) (ok bool, added, stored int64) {
	f, err := openNoatime(path)
	if err != nil {
		a.skip(path, err)
		return false, added, stored
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		a.skip(path, err)
		return false, added, stored
	}
	ino, size, mtime, _ := statIdentity(fi)
	if !fi.Mode().IsRegular() || ino != node.Inode {
		a.skip(path, fmt.Errorf("replaced by another file while being backed up"))
		return false, added, stored
	}
	if testHookRead != nil {
		testHookRead(path)
	}
	var content []crypto.ID
	var read int64
	comp := wk.comp
	save := func(data []byte) bool {
		id := wk.h.Sum(data)
		n := len(data)
		st, err := a.w.SaveBlob(pack.DataBlob, id, data, comp)
		if err != nil {
			a.setFatal(fmt.Errorf("backup: %s: %w", path, err))
			return false
		}
		if st > 0 {
			a.prog.Added.Add(int64(n))
			added += int64(n)
			stored += int64(st)
		}
		content = append(content, id)
		read += int64(n)
		a.prog.Bytes.Add(int64(n))
		a.prog.BytesRead.Add(int64(n))
		return true
	}
	if size < int64(a.cfg.ChunkMin) {
		// Small files are one chunk: skip the chunker.
		if int64(cap(wk.buf)) < size+1+crypto.TagSize {
			wk.buf = make([]byte, 0, size+1+crypto.TagSize)
		}
		n, err := io.ReadFull(f, wk.buf[:size+1])
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			a.skip(path, err)
			return false, added, stored
		}
		if int64(n) <= size {
			if n > 0 && !save(wk.buf[:n]) {
				return false, added, stored
			}
			return a.finishFile(path, f, node, content, read, size, mtime), added, stored
		}
		// The file grew past its stat size: chunk it from the start.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			a.skip(path, err)
			return false, added, stored
		}
	}
	var bb *bigBuffers
	select {
	case bb = <-a.big:
	case <-a.ctx.Done():
		return false, added, stored
	}
	defer func() { a.big <- bb }()
	comp = bb.comp
	bb.ch.ResetWithBoundaries(f, a.cfg.ChunkerPolynomial, a.cfg.ChunkMin, a.cfg.ChunkMax)
	bb.ch.SetAverageBits(a.cfg.ChunkAvgBits)
	for {
		if a.stopped() {
			return false, added, stored
		}
		c, err := bb.ch.Next(bb.buf[:0])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			a.skip(path, err)
			return false, added, stored
		}
		bb.buf = c.Data[:0]
		if !save(c.Data) {
			return false, added, stored
		}
	}
	return a.finishFile(path, f, node, content, read, size, mtime), added, stored
}

func (a *archiver) finishFile(path string, f *os.File, node *tree.Node, content []crypto.ID, read, size, mtime int64) bool {
	if fi, err := f.Stat(); err == nil {
		_, size2, mtime2, _ := statIdentity(fi)
		if size2 != size || mtime2 != mtime || read != size {
			a.errMu.Lock()
			a.changed = append(a.changed, path)
			a.errMu.Unlock()
			a.warn(path, fmt.Errorf("file changed while being read (size %d -> %d, %d bytes read)", size, size2, read))
		}
	}
	node.Content = content
	node.Size = uint64(read)
	return true
}
