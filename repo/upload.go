package repo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/index"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/backend"
)

// packer fills one pack at a time. Packs are written to unlinked temporary
// files, not kept in memory, so a session's memory does not grow with the
// pack size or the number of uploads under way.
type packer struct {
	mu sync.Mutex
	w  *pack.Writer
	f  *os.File
	bw *bufio.Writer
}

type upload struct {
	f       *os.File
	id      crypto.ID
	size    int64
	entries []pack.Entry
}

// timer writes an index file for uploaded packs once CheckpointInterval
// has passed since the last one, even when no upload finishes meanwhile
// (a session reading files whose blobs are all known).
func (w *Writer) timer() {
	t := time.NewTicker(w.opts.CheckpointInterval / 4)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			due := len(w.unindexed) > 0 && w.opts.Now().Sub(w.lastCheckpoint) >= w.opts.CheckpointInterval
			w.mu.Unlock()
			if due {
				if err := w.checkpoint(); err != nil {
					w.setErr(err)
				}
			}
		}
	}
}

// startPack opens a new pack in an unlinked temporary file. p.mu is held.
func (w *Writer) startPack(p *packer) error {
	f, err := os.CreateTemp(w.opts.TempDir, "arca-pack-")
	if err != nil {
		return fmt.Errorf("repo: temporary pack file: %w", err)
	}
	_ = os.Remove(f.Name()) // lives until closed; nothing is left after a crash
	if p.bw == nil {
		p.bw = bufio.NewWriterSize(f, 256<<10)
	} else {
		p.bw.Reset(f)
	}
	pw, err := pack.NewWriter(w.r.key, p.bw)
	if err != nil {
		f.Close()
		return err
	}
	p.w, p.f = pw, f
	return nil
}

// finishPack completes p's pack. p.mu is held.
func (w *Writer) finishPack(p *packer) (upload, error) {
	pw, f := p.w, p.f
	p.w, p.f = nil, nil
	id, size, entries, err := pw.Finish()
	if err == nil {
		err = p.bw.Flush()
	}
	if err != nil {
		f.Close()
		return upload{}, fmt.Errorf("repo: write temporary pack: %w", err)
	}
	return upload{f: f, id: id, size: size, entries: entries}, nil
}

func (w *Writer) enqueue(u upload) error {
	w.inflight.Add(1)
	select {
	case w.uploads <- u:
		return nil
	case <-w.user.Done():
		u.f.Close()
		w.inflight.Done()
		w.setErr(w.user.Err())
		return w.user.Err()
	}
}

func (w *Writer) uploader() {
	for u := range w.uploads {
		w.store(u)
		w.inflight.Done()
	}
}

func (w *Writer) store(u upload) {
	defer u.f.Close()
	if w.Err() != nil {
		return
	}
	id := u.id
	h := backend.Handle{Type: backend.PackFile, Name: id.String()}
	if err := w.r.be.Save(w.ctx, h, io.NewSectionReader(u.f, 0, u.size)); err != nil {
		w.setErr(fmt.Errorf("repo: upload %s: %w", h, err))
		return
	}
	w.packs.Add(1)
	w.storedBytes.Add(u.size)
	if treesOnly(u.entries) {
		w.r.files.add("packs", id, io.NewSectionReader(u.f, 0, u.size))
	}
	entries := append([]pack.Entry(nil), u.entries...)
	w.mu.Lock()
	for _, e := range entries {
		w.pending[pendingKey{e.Type, e.ID}] = true
	}
	w.unindexed = append(w.unindexed, index.Pack{ID: id, Size: u.size, Entries: entries})
	w.unindexedBlobs += len(entries)
	due := len(w.unindexed) >= checkpointPacks || w.unindexedBlobs >= checkpointBlobs ||
		w.opts.Now().Sub(w.lastCheckpoint) >= w.opts.CheckpointInterval
	w.mu.Unlock()
	if due {
		if err := w.checkpoint(); err != nil {
			w.setErr(err)
		}
	}
}

// checkpoint writes an index file for the packs uploaded since the last one
// and moves their blobs from the session into the cache.
func (w *Writer) checkpoint() error {
	if w.opts.DryRun {
		return nil
	}
	w.checkpointMu.Lock()
	defer w.checkpointMu.Unlock()
	w.mu.Lock()
	packs := w.unindexed
	w.unindexed, w.unindexedBlobs = nil, 0
	w.lastCheckpoint = w.opts.Now()
	w.mu.Unlock()
	if len(packs) == 0 {
		return nil
	}
	f := &index.File{Packs: packs}
	plain := f.Encode(nil)
	// The cache takes the file in while it uploads, and the stored size
	// is the sealed file's, not asked of the backend: on a link of 50 ms
	// a backup ends 80 ms sooner (BenchmarkLatency backup/50ms, median
	// 663 against 745 ms). Should the upload fail, the session fails, and
	// the next SyncIndex drops the file, which the repository does not
	// hold, with what it alone listed (TestIndexUploadFails).
	_, size, err := w.r.saveFile(w.ctx, backend.IndexFile, crypto.KindIndex, plain, func(id crypto.ID) error {
		return w.r.idx.AddFile(id, f)
	})
	if err != nil {
		return err
	}
	w.indexFiles.Add(1)
	w.storedBytes.Add(size)
	w.mu.Lock()
	for _, p := range packs {
		for _, e := range p.Entries {
			delete(w.pending, pendingKey{e.Type, e.ID})
		}
	}
	w.mu.Unlock()
	return nil
}
