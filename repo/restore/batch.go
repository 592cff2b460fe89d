package restore

import (
	"bytes"
	"cmp"
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
	// dispatched is closed once every pack is handed to a worker (or the
	// batch stopped): the next batch may start then.
	dispatched chan struct{}
}

// flush hands the planned batch to a goroutine that writes it: the walk
// plans the next batch while this one is written. Two batches are written
// at once at most, and the new one starts only once the one before has
// handed its last pack to a worker, so the workers that finish first go
// on to the next batch rather than wait for the last packs of this one
// (a batch's packs are few and of unequal work: the Go tree's second
// batch waited 290 ms on one pack with one core idle). The batch before
// the last is waited for and finished first.
func (rs *restorer) flush() error {
	for len(rs.running) > 1 {
		if err := rs.wait(); err != nil {
			return err
		}
	}
	if n := len(rs.running); n > 0 {
		<-rs.running[n-1].dispatched
	}
	if h := rs.opts.test; h != nil && h.beforeFlush != nil {
		h.beforeFlush()
	}
	b := &batch{files: rs.files, packs: rs.packs, later: rs.later, done: make(chan error, 1), dispatched: make(chan struct{})}
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
	rs.running = append(rs.running, b)
	go func() { b.done <- rs.write(b) }()
	return nil
}

// waitAll waits for every batch being written, in order, and returns the
// first error.
func (rs *restorer) waitAll() error {
	var first error
	for len(rs.running) > 0 {
		if err := rs.wait(); first == nil {
			first = err
		}
	}
	return first
}

// wait waits for the oldest batch being written, if any, and finishes it
// on the walk's goroutine: the journal forgets its files, hard links to
// them are made and the metadata of its directories applied.
func (rs *restorer) wait() error {
	if len(rs.running) == 0 {
		return nil
	}
	b := rs.running[0]
	rs.running = rs.running[1:]
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
		rs.journal.batchDone(rs.liveEntries())
	}
	rs.finalize(b)
	return err
}

// liveEntries reports the journal entries of the files of the batches
// still being written, nil when there are none.
func (rs *restorer) liveEntries() func(journalEntry) bool {
	if len(rs.running) == 0 {
		return nil
	}
	live := map[journalKey]bool{}
	for _, b := range rs.running {
		for _, fs := range b.files {
			live[journalKey{fs.dir.rel, fs.name}] = true
		}
	}
	return func(e journalEntry) bool { return live[journalKey{e.Dir, e.Name}] }
}

// write writes the files of batch b: each pack is read once, by one of
// the workers (rs.readers, shared with the batch before), and its blobs
// written where they belong. The packs with the most to write go first,
// so that the last to finish are small ones.
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
	type packWork struct {
		id    crypto.ID
		bytes int64
	}
	work := make([]packWork, 0, len(b.packs))
	for id, blobs := range b.packs {
		var n int64
		for _, bw := range blobs {
			n += int64(bw.entry.RawLength) * int64(len(bw.writes))
		}
		work = append(work, packWork{id, n})
	}
	slices.SortFunc(work, func(x, y packWork) int {
		return cmp.Or(cmp.Compare(y.bytes, x.bytes), bytes.Compare(x.id[:], y.id[:]))
	})
	g, gctx := errgroup.WithContext(rs.ctx)
dispatch:
	for _, pw := range work {
		var pr *repo.PackReader
		select {
		case pr = <-rs.readers:
		case <-gctx.Done():
			break dispatch
		}
		g.Go(func() error {
			defer func() { rs.readers <- pr }()
			return rs.restorePack(gctx, pr, pw.id, b.packs[pw.id])
		})
	}
	close(b.dispatched)
	if err := g.Wait(); err != nil {
		return err
	}
	return rs.ctx.Err()
}
