package restore

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/beneath"
	"github.com/arcabackup/arca/repo/tree"
	"golang.org/x/sys/unix"
)

// decide applies the overwrite mode to an entry that exists (st). It
// returns the action, or "" when the entry must be written; sameContent is
// asked only in if-changed mode.
func (rs *restorer) decide(n *tree.Node, st *unix.Stat_t, sameContent func() bool) Action {
	switch rs.opts.Overwrite {
	case OverwriteNever:
		return ActionSkip
	case OverwriteIfNewer:
		if n.ModTime <= st.Mtim.Nano() {
			return ActionSkip
		}
	case OverwriteIfChanged:
		if sameContent() {
			return ActionUnchanged
		}
	}
	return ""
}

func isType(st *unix.Stat_t, typ uint32) bool { return st.Mode&unix.S_IFMT == typ }

// file restores a regular file. The index is asked where its blobs are only
// when they are needed: a file kept because its size and mtime match costs
// one lstat.
func (rs *restorer) file(n *tree.Node, dn *dirNode, name string) error {
	p := dn.join(name)
	var locs []repo.Location
	located, missing := false, false
	var lerr error
	locate := func() bool {
		if !located {
			located = true
			var ok bool
			locs, ok, lerr = rs.locate(n, p)
			missing = !ok && lerr == nil
		}
		return lerr == nil && !missing
	}
	st, exists, err := dn.lstat(name)
	if err != nil {
		rs.fail(p, err)
		return nil
	}
	if exists && isType(&st, unix.S_IFDIR) {
		rs.fail(p, errors.New("a directory is in the way"))
		return nil
	}
	var have []bool // blobs the file at name already holds, if hashed
	act := ActionRestore
	if exists {
		act = rs.decide(n, &st, func() bool {
			if !isType(&st, unix.S_IFREG) || uint64(st.Size) != n.Size {
				return false
			}
			if st.Mtim.Nano() == n.ModTime {
				return true
			}
			if !locate() {
				return false
			}
			have = rs.localBlobsAt(dn, name, n, locs)
			return all(have)
		})
		switch act {
		case ActionSkip:
			rs.report(act, p)
			return nil
		case ActionUnchanged:
			rs.report(act, p)
			if !rs.opts.DryRun {
				if err := rs.fixMetaAt(dn, name, n, &st); err != nil {
					rs.fail(p, err)
				}
				rs.checkLater(dn, name, n)
			}
			return nil
		}
		act = ActionUpdate
	}
	if !locate() {
		return lerr // nil for a missing blob: locate reported it
	}
	if err := rs.need(dn); err != nil {
		return nil
	}
	rs.report(act, p)
	if rs.opts.DryRun {
		rs.prog.Bytes.Add(int64(n.Size))
		return nil
	}
	rs.plan(dn, name, n, locs, exists && isType(&st, unix.S_IFREG), have)
	return nil
}

// locate finds the pack locations of a file's blobs. ok is false if one is
// missing (reported).
func (rs *restorer) locate(n *tree.Node, p string) ([]repo.Location, bool, error) {
	locs := make([]repo.Location, len(n.Content))
	for i, id := range n.Content {
		loc, ok, err := rs.r.Lookup(pack.DataBlob, id)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			rs.fail(p, fmt.Errorf("data blob %s: %w", id.Short(), repo.ErrBlobNotFound))
			return nil, false, nil
		}
		locs[i] = loc
	}
	return locs, true, nil
}

func all(b []bool) bool {
	for _, v := range b {
		if !v {
			return false
		}
	}
	return true
}

func anyTrue(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}

// localBlobsAt reports which of a file's blobs the regular file name in
// dn already holds at their offsets, by hashing them.
func (rs *restorer) localBlobsAt(dn *dirNode, name string, n *tree.Node, locs []repo.Location) []bool {
	f, err := dn.d.OpenFile(name, unix.O_RDONLY)
	if err != nil {
		return make([]bool, len(locs))
	}
	defer f.Close()
	return rs.localBlobs(f, n, locs)
}

// localBlobs reports which of a file's blobs f holds at their offsets. It
// reads nothing from the repository.
func (rs *restorer) localBlobs(f *os.File, n *tree.Node, locs []repo.Location) []bool {
	have := make([]bool, len(locs))
	h := rs.r.NewIDHasher()
	var buf []byte
	off := int64(0)
	for i, loc := range locs {
		size := int(loc.Entry.RawLength)
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := f.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
			break // the rest is past the end
		}
		have[i] = h.Sum(buf) == n.Content[i]
		off += int64(size)
	}
	return have
}

// plan records the blob writes of one regular file. The file is written
// to a temporary file; blobs already there from an interrupted run (found
// through the journal), or in the file being replaced (reuse), are kept
// rather than read from the repository.
func (rs *restorer) plan(dn *dirNode, name string, n *tree.Node, locs []repo.Location, reuse bool, have []bool) {
	fs := &fileState{dir: dn.hold(), name: name, path: dn.join(name), node: n}
	if tmp, ok := rs.journal.take(dn.rel, name); ok {
		if f, st, err := rs.openTemp(dn, tmp, 0); err == nil {
			have = rs.localBlobs(f, n, locs)
			f.Close()
			fs.tmp, fs.tmpIno, fs.resume = tmp, st.Ino, true
		} else {
			rs.journal.discard(dn, tmp)
			have = nil
		}
	} else if reuse {
		if have == nil {
			have = rs.localBlobsAt(dn, name, n, locs)
		}
		if anyTrue(have) {
			if err := rs.copyToTemp(fs); err != nil {
				have = nil
			}
		} else {
			have = nil
		}
	}
	if fs.tmp == "" {
		fs.tmp = beneath.RandomName(tempPrefix) // recorded in the journal when the batch runs
	}
	missing := 0
	off := int64(0)
	for i, id := range n.Content {
		loc := locs[i]
		if have == nil || !have[i] {
			blobs := rs.packs[loc.Pack]
			if blobs == nil {
				blobs = map[crypto.ID]*blobWrites{}
				rs.packs[loc.Pack] = blobs
			}
			bw := blobs[id]
			if bw == nil {
				bw = &blobWrites{entry: loc.Entry}
				blobs[id] = bw
			}
			bw.writes = append(bw.writes, write{file: fs, offset: off})
			rs.nwrite++
			missing++
		} else {
			rs.prog.Bytes.Add(int64(loc.Entry.RawLength))
		}
		off += int64(loc.Entry.RawLength)
	}
	fs.remaining.Store(int64(missing))
	rs.files = append(rs.files, fs)
}

// copyToTemp copies the file being replaced into a new temporary file
// (copy_file_range where the file system allows), so that its blobs that
// still match need not be read from the repository.
func (rs *restorer) copyToTemp(fs *fileState) error {
	dn := fs.dir
	in, err := dn.d.OpenFile(fs.name, unix.O_RDONLY)
	if err != nil {
		return err
	}
	defer in.Close()
	var out *os.File
	tmp, err := rs.makeTemp(dn, fs.name, func(tmp string) error {
		var err error
		out, err = dn.d.Create(tmp, 0o600)
		return err
	})
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	var st unix.Stat_t
	if err == nil {
		err = unix.Fstat(int(out.Fd()), &st)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		dn.d.Remove(tmp)
		return err
	}
	fs.tmp, fs.tmpIno, fs.resume = tmp, st.Ino, true
	return nil
}

type verifyItem struct {
	dir  *dirNode
	name string
	node *tree.Node
}

// checkLater queues a file for --verify at the end of the batch.
func (rs *restorer) checkLater(dn *dirNode, name string, n *tree.Node) {
	if rs.opts.Verify {
		rs.verifyMu.Lock()
		rs.verify = append(rs.verify, verifyItem{dn.hold(), name, n})
		rs.verifyMu.Unlock()
	}
}

// verifyBatch reads back the files of the batch and checks their blobs.
func (rs *restorer) verifyBatch(items []verifyItem) {
	for _, it := range items {
		if rs.ctx.Err() == nil {
			rs.verifyOne(it)
		}
		it.dir.release()
	}
}

func (rs *restorer) verifyOne(it verifyItem) {
	p := it.dir.join(it.name)
	locs, ok, err := rs.locate(it.node, p)
	if err != nil || !ok {
		return
	}
	f, err := it.dir.d.OpenFile(it.name, unix.O_RDONLY)
	if err != nil {
		rs.fail(p, fmt.Errorf("verify: %w", err))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		rs.fail(p, fmt.Errorf("verify: %w", err))
		return
	}
	if uint64(fi.Size()) != it.node.Size {
		rs.fail(p, fmt.Errorf("verify: size %d, want %d", fi.Size(), it.node.Size))
		return
	}
	for i, ok := range rs.localBlobs(f, it.node, locs) {
		if !ok {
			rs.fail(p, fmt.Errorf("verify: blob %d of %d (%s) does not match", i+1, len(locs), it.node.Content[i].Short()))
			return
		}
	}
	rs.prog.Verified.Add(1)
}

// special restores a symlink, FIFO or device node, unless the overwrite
// mode keeps what is there. Sockets and irregular nodes are not created;
// a socket already there gets its metadata, anything else is left alone.
func (rs *restorer) special(n *tree.Node, dn *dirNode, name string) {
	p := dn.join(name)
	st, exists, err := dn.lstat(name)
	if err != nil {
		rs.fail(p, err)
		return
	}
	if n.Type == tree.Socket || n.Type == tree.Irregular {
		if exists && n.Type == tree.Socket && isType(&st, unix.S_IFSOCK) && rs.opts.Overwrite != OverwriteNever {
			rs.report(ActionUnchanged, p)
			if !rs.opts.DryRun {
				if err := rs.fixMetaAt(dn, name, n, &st); err != nil {
					rs.fail(p, err)
				}
			}
			return
		}
		rs.report(ActionSkip, p) // cannot be recreated
		return
	}
	act := ActionRestore
	if exists {
		if isType(&st, unix.S_IFDIR) {
			rs.fail(p, errors.New("a directory is in the way"))
			return
		}
		act = rs.decide(n, &st, func() bool { return rs.sameSpecial(dn, name, &st, n) })
		switch act {
		case ActionSkip:
			rs.report(act, p)
			return
		case ActionUnchanged:
			rs.report(act, p)
			if !rs.opts.DryRun {
				if err := rs.fixMetaAt(dn, name, n, &st); err != nil {
					rs.fail(p, err)
				}
			}
			return
		}
		act = ActionUpdate
	}
	if err := rs.need(dn); err != nil {
		return
	}
	rs.report(act, p)
	if rs.opts.DryRun {
		return
	}
	if err := rs.makeSpecial(dn, name, n); err != nil {
		rs.fail(p, err)
	}
}

func (rs *restorer) sameSpecial(dn *dirNode, name string, st *unix.Stat_t, n *tree.Node) bool {
	if !isType(st, n.Type.UnixType()) {
		return false
	}
	switch n.Type {
	case tree.Symlink:
		target, err := dn.d.Readlink(name)
		return err == nil && target == n.LinkTarget
	case tree.Device, tree.CharDev:
		return st.Rdev == n.Rdev
	}
	return true
}
