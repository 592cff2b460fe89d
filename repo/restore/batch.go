package restore

import (
	"bytes"
	"slices"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"golang.org/x/sync/errgroup"
)

// batch is a planned batch on its way to disk: its files, the packs to
// read for them, and what is finished after them (dirs, links).
type batch struct {
	files []*fileState
	packs map[crypto.ID]map[crypto.ID]*blobWrites
	later []hardlink
	dirs  []*dirMeta // walked completely, deepest first
	done  chan error
}

// flush hands the planned batch to a goroutine that writes it, once the
// batch before it is complete and finished (wait): the walk plans the
// next batch while this one is written.
func (rs *restorer) flush() error {
	if err := rs.wait(); err != nil {
		return err
	}
	if h := rs.opts.test; h != nil && h.beforeFlush != nil {
		h.beforeFlush()
	}
	b := &batch{files: rs.files, packs: rs.packs, later: rs.later, done: make(chan error, 1)}
	rs.files, rs.packs, rs.nwrite, rs.later = nil, map[crypto.ID]map[crypto.ID]*blobWrites{}, 0, nil
	// The directories walked completely hold only entries of this batch
	// and earlier ones: their metadata goes on after it.
	for i := len(rs.dirs) - 1; i >= 0; i-- {
		if m := rs.dirs[i]; m.done {
			b.dirs = append(b.dirs, m)
		}
	}
	rs.dirs = slices.DeleteFunc(rs.dirs, func(m *dirMeta) bool { return m.done })
	rs.doneDirs = 0
	rs.running = b
	go func() { b.done <- rs.write(b) }()
	return nil
}

// wait waits for the batch being written, if any, and finishes it on the
// walk's goroutine: the journal forgets its files, hard links to them are
// made and the metadata of its directories applied.
func (rs *restorer) wait() error {
	b := rs.running
	if b == nil {
		return nil
	}
	rs.running = nil
	err := <-b.done
	// Close whatever is still open (after a failure). When interrupted,
	// keep the partial files: the journal leads the next run to them.
	keep := rs.ctx.Err() != nil
	if err != nil {
		for _, fs := range b.files {
			if fs.remaining.Load() > 0 {
				fs.abandon(keep)
			}
		}
	}
	for _, fs := range b.files {
		fs.dir.release()
	}
	if !keep {
		rs.journal.batchDone()
	}
	rs.finalize(b)
	return err
}

// write writes the files of batch b: each pack is read once, by one of
// opts.Workers goroutines, and its blobs written where they belong.
func (rs *restorer) write(b *batch) error {
	defer func() {
		rs.verifyMu.Lock()
		items := rs.verify
		rs.verify = nil
		rs.verifyMu.Unlock()
		rs.verifyBatch(items)
	}()
	// Record the temporary names about to be created, all at once, so
	// that a killed restore's partial files are found by the next run.
	var fresh []journalEntry
	for _, fs := range b.files {
		if !fs.resume {
			fresh = append(fresh, journalEntry{Dir: fs.dir.rel, Name: fs.name, Temp: fs.tmp})
		}
	}
	rs.journal.record(fresh...)
	for _, fs := range b.files {
		if fs.remaining.Load() == 0 { // empty, or every blob already there
			fs.mu.Lock()
			err := rs.open(fs)
			fs.mu.Unlock()
			if err != nil {
				fs.failed.Store(true)
				rs.fail(fs.path, err)
				continue
			}
			rs.finish(fs)
		}
	}
	ids := make([]crypto.ID, 0, len(b.packs))
	for id := range b.packs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b crypto.ID) int { return bytes.Compare(a[:], b[:]) })
	readers := make(chan *repo.PackReader, rs.opts.Workers)
	for range rs.opts.Workers {
		readers <- rs.r.NewPackReader()
	}
	g, gctx := errgroup.WithContext(rs.ctx)
	g.SetLimit(rs.opts.Workers)
	for _, id := range ids {
		g.Go(func() error {
			pr := <-readers
			defer func() { readers <- pr }()
			return rs.restorePack(gctx, pr, id, b.packs[id])
		})
	}
	return g.Wait()
}
