package backup

import (
	"errors"
	"fmt"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/restic/chunker"
	"golang.org/x/sys/unix"
)

// worker reads files. It keeps its own buffer and hasher for small files
// for the whole backup.
type worker struct {
	buf []byte
	h   *crypto.IDHasher
}

func (a *archiver) worker() {
	wk := &worker{
		buf: make([]byte, 0, 64<<10),
		h:   a.r.NewIDHasher(),
	}
	for job := range a.jobs {
		if !a.stopped() {
			a.prog.start(job.path)
			start := time.Now()
			ok, added, stored := a.readFile(wk, job)
			a.prog.done(job.path)
			job.fut.ok = ok
			if ok {
				a.prog.Files.Add(1)
				a.report(Item{Action: job.action, Path: job.path, Duration: time.Since(start), DataAdded: added, DataStored: stored})
			}
		} else {
			job.dir.release()
		}
		close(job.fut.done)
	}
}

// readFile stores the content of the job's file into its node. It returns
// false if the file was skipped, and the plaintext and stored bytes of the
// new blobs.
func (a *archiver) readFile(wk *worker, job fileJob) (ok bool, added, stored int64) {
	path, node := job.path, &job.fut.node
	f, err := openFile(job.dir, node.Name, path)
	job.dir.release()
	if err != nil {
		a.skip(path, err)
		return false, added, stored
	}
	defer f.Close()
	var st unix.Stat_t
	if err := f.stat(&st); err != nil {
		a.skip(path, err)
		return false, added, stored
	}
	size, mtime := st.Size, st.Mtim.Nano()
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != node.Inode {
		a.skip(path, fmt.Errorf("replaced by another file while being backed up"))
		return false, added, stored
	}
	if job.xattrs {
		if x, err := f.xattrs(); err != nil {
			a.warn(path, err)
		} else {
			node.Xattrs = x
		}
	}
	if testHookRead != nil {
		testHookRead(path)
	}
	if size < int64(a.cfg.ChunkMin) {
		// Small files are one chunk: skip the chunker.
		if int64(cap(wk.buf)) < size+1+crypto.TagSize {
			wk.buf = make([]byte, 0, size+1+crypto.TagSize)
		}
		n, err := f.readSmall(wk.buf[:size+1], int(size))
		if err != nil {
			a.skip(path, err)
			return false, added, stored
		}
		if int64(n) <= size {
			var content []crypto.ID
			if n > 0 {
				id, st, ok := a.storeBlob(wk.h, nil, 0, path, wk.buf[:n])
				if !ok {
					return false, added, stored
				}
				content = []crypto.ID{id}
				if st > 0 {
					added, stored = int64(n), int64(st)
				}
			}
			return a.finishFile(path, f, node, content, int64(n), size, mtime), added, stored
		}
		// The file grew past its stat size: chunk it from the start.
		if err := f.rewind(); err != nil {
			a.skip(path, err)
			return false, added, stored
		}
	}
	// Larger files are cut here and stored by the pool on every core.
	// Files of StreamTrial average chunks or more choose their
	// compression level by measuring (pack.Stream); smaller ones would
	// pay for the trial of their first chunk and gain little.
	var ch *chunker.Chunker
	select {
	case ch = <-a.chunkers:
	case <-a.ctx.Done():
		return false, added, stored
	}
	defer func() { a.chunkers <- ch }()
	cf, read, err := a.chunk(ch, f, path, size >= int64(pack.StreamTrial)<<a.cfg.ChunkAvgBits)
	if errors.Is(err, errStopped) {
		return false, added, stored
	}
	if err != nil {
		a.skip(path, err)
		return false, added, stored
	}
	return a.finishFile(path, f, node, cf.ids, read, size, mtime), cf.added, cf.stored
}

// storeBlob hashes data, stores it as a data blob of the file at path
// (blob i of stream s, nil for a small file) and counts it in the
// progress. It returns the blob's ID and the bytes it takes in its pack
// (0 when it was stored already), or false after a fatal error. data may
// be encrypted in place.
func (a *archiver) storeBlob(h *crypto.IDHasher, s *pack.Stream, i int, path string, data []byte) (crypto.ID, int, bool) {
	n := int64(len(data))
	id := h.Sum(data)
	comp := <-a.comps
	st, err := a.w.SaveBlob(pack.DataBlob, id, data, comp.ForStream(s, i))
	a.comps <- comp
	if err != nil {
		a.setFatal(fmt.Errorf("backup: %s: %w", path, err))
		return id, 0, false
	}
	if st > 0 {
		a.prog.Added.Add(n)
	}
	a.prog.Bytes.Add(n)
	a.prog.BytesRead.Add(n)
	return id, st, true
}

func (a *archiver) finishFile(path string, f *rawFile, node *tree.Node, content []crypto.ID, read, size, mtime int64) bool {
	var st unix.Stat_t
	if err := f.stat(&st); err == nil {
		size2, mtime2 := st.Size, st.Mtim.Nano()
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
