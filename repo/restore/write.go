package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/beneath"
	"github.com/arcabackup/arca/repo/tree"
	"golang.org/x/sys/unix"
)

// fileState is one regular file of a batch. It is written to a temporary
// file in its directory and renamed to its name when complete.
type fileState struct {
	dir       *dirNode
	name      string
	path      string // for messages
	node      *tree.Node
	remaining atomic.Int64

	mu      sync.Mutex
	tmp     string // temporary name in dir
	tmpIno  uint64 // its inode, once it exists (resume, reuse)
	f       *os.File
	created bool // this run has opened or created tmp
	removed bool // this run has removed tmp (abandon)
	resume  bool // tmp exists and holds data to keep
	failed  atomic.Bool
	// A new temporary file (not resume) is not sized when created: end
	// is where the data written so far ends, and finish sizes the file
	// only if the writes did not (the file ends in a hole). ownerOK and
	// modeOK say that it was created with the owner and mode it is to
	// have.
	end     int64
	ownerOK bool
	modeOK  bool
}

type write struct {
	file   *fileState
	offset int64
}

type blobWrites struct {
	entry  pack.Entry
	writes []write
}

// open creates the file's temporary file on first use, or opens the one a
// resumed or reused file already has and sizes it (a new one is sized by
// finish if its writes leave a hole at its end). fs.mu must be held.
func (rs *restorer) open(fs *fileState) error {
	if fs.created {
		return nil
	}
	fs.created = true
	var f *os.File
	var err error
	if fs.resume {
		f, _, err = rs.openTemp(fs.dir, fs.tmp, fs.tmpIno)
	} else {
		f, err = rs.createTemp(fs)
	}
	if err != nil {
		return err
	}
	if fs.resume {
		// It may hold more than the file is to have.
		if err := f.Truncate(int64(fs.node.Size)); err != nil {
			f.Close()
			fs.dir.d.Remove(fs.tmp)
			return err
		}
	}
	fs.f = f
	return nil
}

// createTemp creates fs's temporary file at the name the journal recorded,
// or, if something is there, at a new one (makeTemp).
func (rs *restorer) createTemp(fs *fileState) (*os.File, error) {
	if h := rs.opts.test; h != nil && h.beforeCreate != nil {
		h.beforeCreate(fs.dir.path, fs.tmp)
	}
	perm, modeOK := rs.createMode(fs.node, fs.dir)
	f, err := fs.dir.d.Create(fs.tmp, perm)
	if errors.Is(err, os.ErrExist) {
		fs.tmp, err = rs.makeTemp(fs.dir, fs.name, func(tmp string) error {
			var err error
			f, err = fs.dir.d.Create(tmp, perm)
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	fs.modeOK = modeOK
	if rs.owner && fs.dir.fresh {
		uid, gid := rs.ids(fs.node)
		fs.ownerOK = uid == rs.euid && gid == fs.dir.newGid
	}
	return f, nil
}

// openTemp opens an existing temporary file for writing, only if it is
// this user's regular file with one name (and, when ino is not zero, the
// inode this run made): a file planted there is never written.
func (rs *restorer) openTemp(dn *dirNode, name string, ino uint64) (*os.File, unix.Stat_t, error) {
	var st unix.Stat_t
	f, err := dn.d.OpenFile(name, unix.O_RDWR)
	if err != nil {
		return nil, st, err
	}
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, st, err
	}
	if int(st.Uid) != rs.euid || st.Nlink != 1 || ino != 0 && st.Ino != ino {
		f.Close()
		return nil, st, fmt.Errorf("temporary file %s is not the one this restore made", dn.join(name))
	}
	return f, st, nil
}

// finish closes a complete file, applies its metadata through its handle
// and renames it into place.
func (rs *restorer) finish(fs *fileState) {
	fs.mu.Lock()
	f := fs.f
	fs.f = nil
	fs.mu.Unlock()
	if f == nil {
		return
	}
	var err error
	if !fs.resume && fs.end != int64(fs.node.Size) {
		err = f.Truncate(int64(fs.node.Size))
	}
	if err == nil {
		err = rs.applyMeta(beneath.FileEntry(f), fs.node, fs.ownerOK, fs.modeOK)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.dir.d.Rename(fs.tmp, fs.name)
		if errors.Is(err, unix.EISDIR) {
			err = errors.New("a directory is in the way")
		}
	}
	if err != nil {
		fs.dir.d.Remove(fs.tmp)
		rs.fail(fs.path, err)
		return
	}
	rs.checkLater(fs.dir, fs.name, fs.node)
}

// restorePack reads the blobs of one pack that the batch needs, through
// the repository (which streams the pack and verifies each blob), and
// writes each to every file and offset that holds it. A blob that fails
// is then loaded from another copy, if the index knows one (the failed
// copy is now known to be damaged, so it is tried last): after the
// stream, whose connection the reader holds until then.
func (rs *restorer) restorePack(ctx context.Context, pr *repo.PackReader, id crypto.ID, blobs map[crypto.ID]*blobWrites) error {
	entries := make([]pack.Entry, 0, len(blobs))
	for _, bw := range blobs {
		entries = append(entries, bw.entry)
	}
	type failure struct {
		bw  *blobWrites
		err error
	}
	var failed []failure
	n, err := pr.Read(ctx, id, entries, func(e pack.Entry, plain []byte, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr // interrupted: the rest of the pack waits for the next run
		}
		bw := blobs[e.ID]
		if err != nil {
			failed = append(failed, failure{bw, err})
			return nil
		}
		rs.writeBlobs(bw, plain)
		return nil
	})
	rs.prog.BytesRead.Add(n)
	if err != nil {
		return err
	}
	for _, f := range failed {
		other, lerr := rs.r.LoadBlob(ctx, pack.DataBlob, f.bw.entry.ID, nil)
		if lerr != nil {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			rs.blobFailed(f.bw, f.err)
			continue
		}
		rs.writeBlobs(f.bw, other)
	}
	return nil
}

// writeBlobs writes a blob's plaintext everywhere the batch needs it.
func (rs *restorer) writeBlobs(bw *blobWrites, plain []byte) {
	zero := allZero(plain)
	for _, wr := range bw.writes {
		rs.writeBlob(wr, plain, zero)
	}
}

func (rs *restorer) blobFailed(bw *blobWrites, err error) {
	for _, wr := range bw.writes {
		rs.failFile(wr.file, err)
		rs.blobDone(wr.file)
	}
}

// failFile reports the first failure of a file and abandons it at once,
// so that what it took on a full disk is free for the files after it.
func (rs *restorer) failFile(fs *fileState, err error) {
	if !fs.failed.Swap(true) {
		rs.fail(fs.path, err)
		fs.abandon(false)
	}
}

// blobDone counts one of a file's blobs as handled; after the last, the
// file is completed, or dropped if one failed.
func (rs *restorer) blobDone(fs *fileState) {
	if fs.remaining.Add(-1) != 0 {
		return
	}
	if fs.failed.Load() {
		fs.abandon(false)
		return
	}
	rs.finish(fs)
}

// abandon closes the temporary file if it is open and, unless keep is
// set, removes it if this run opened it (a partial file from an earlier
// run that this one did not get to stays for the next). A file that
// failed (failFile) is not opened again once created.
func (fs *fileState) abandon(keep bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.f != nil {
		fs.f.Close()
		fs.f = nil
	}
	if !keep && fs.created && !fs.removed {
		fs.dir.d.Remove(fs.tmp)
		fs.removed = true
	}
}

func (rs *restorer) writeBlob(wr write, data []byte, zero bool) {
	fs := wr.file
	if !fs.failed.Load() {
		fs.mu.Lock()
		err := rs.open(fs)
		if err == nil && fs.f != nil {
			switch {
			case !zero:
				var end int64
				end, err = writeSparse(fs.f, data, wr.offset, fs.resume, wr.offset+int64(len(data)) == int64(fs.node.Size))
				fs.end = max(fs.end, end)
			case fs.resume:
				// The old data there is not zero: make it a hole.
				err = punchHole(fs.f, wr.offset, int64(len(data)))
			}
		}
		fs.mu.Unlock()
		if err != nil {
			rs.failFile(fs, err)
		}
		if h := rs.opts.test; h != nil && h.afterWrite != nil {
			h.afterWrite(fs.path)
		}
	}
	rs.prog.Bytes.Add(int64(len(data)))
	rs.blobDone(fs)
}

// holeBlock is the granularity of holes: a run of zeros in a blob that
// covers whole blocks of this size (at their offsets in the file) is not
// written, so the file keeps a hole there, as the source had.
const holeBlock = 4096

// writeSparse writes data at off in f, leaving the runs of zeros that
// cover whole aligned blocks unwritten: f is (or, when new, will be) sized
// with ftruncate, so they read as zeros and take no space. In a file that already held data
// there (punch), such runs are punched into holes instead. It returns
// where the last bytes it wrote end in f (off if it wrote none). last says
// that data ends the file.
func writeSparse(f *os.File, data []byte, off int64, punch, last bool) (int64, error) {
	end := off
	flush := func(from, to int) error {
		if to > from {
			_, err := f.WriteAt(data[from:to], off+int64(from))
			end = off + int64(to)
			return err
		}
		return nil
	}
	pending := 0 // start of the data not written yet
	j := int((holeBlock - off%holeBlock) % holeBlock)
	for j+holeBlock <= len(data) {
		if !allZero(data[j : j+holeBlock]) {
			j += holeBlock
			continue
		}
		k := j + holeBlock
		for k+holeBlock <= len(data) && allZero(data[k:k+holeBlock]) {
			k += holeBlock
		}
		if err := flush(pending, j); err != nil {
			return end, err
		}
		if punch {
			if err := punchHole(f, off+int64(j), int64(k-j)); err != nil {
				return end, err
			}
		}
		pending, j = k, k
	}
	if last && !punch && allZero(data[pending:]) {
		return end, nil // the file's zero tail: sizing the file makes it
	}
	return end, flush(pending, len(data))
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
