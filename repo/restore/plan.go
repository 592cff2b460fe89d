package restore

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/index"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/tree"
	"golang.org/x/sys/unix"
)

func mtime(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*unix.Stat_t); ok {
		return st.Mtim.Nano()
	}
	return fi.ModTime().UnixNano()
}

// decide applies the overwrite mode to an entry of type typ that exists
// at tpath (fi). It returns the action, or "" when the entry must be
// written; sameContent is asked only in if-changed mode.
func (rs *restorer) decide(n *tree.Node, fi os.FileInfo, sameContent func() bool) Action {
	switch rs.opts.Overwrite {
	case OverwriteNever:
		return ActionSkip
	case OverwriteIfNewer:
		if n.ModTime <= mtime(fi) {
			return ActionSkip
		}
	case OverwriteIfChanged:
		if sameContent() {
			return ActionUnchanged
		}
	}
	return ""
}

// file restores a regular file. The index is asked where its blobs are only
// when they are needed: a file kept because its size and mtime match costs
// one lstat.
func (rs *restorer) file(n *tree.Node, tpath string) error {
	var locs []index.Location
	located, missing := false, false
	var lerr error
	locate := func() bool {
		if !located {
			located = true
			var ok bool
			locs, ok, lerr = rs.locate(n, tpath)
			missing = !ok && lerr == nil
		}
		return lerr == nil && !missing
	}
	fi, err := os.Lstat(tpath)
	exists := err == nil
	if exists && fi.IsDir() {
		rs.fail(tpath, errors.New("a directory is in the way"))
		return nil
	}
	var have []bool // blobs the file at tpath already holds, if hashed
	act := ActionRestore
	if exists {
		act = rs.decide(n, fi, func() bool {
			if !fi.Mode().IsRegular() || uint64(fi.Size()) != n.Size {
				return false
			}
			if mtime(fi) == n.ModTime {
				return true
			}
			if !locate() {
				return false
			}
			have = rs.localBlobs(tpath, n, locs)
			return all(have)
		})
		switch act {
		case ActionSkip:
			rs.report(act, tpath)
			return nil
		case ActionUnchanged:
			rs.report(act, tpath)
			if !rs.opts.DryRun {
				if err := rs.fixMeta(tpath, n, fi); err != nil {
					rs.fail(tpath, err)
				}
				rs.checkLater(tpath, n)
			}
			return nil
		}
		act = ActionUpdate
	}
	if !locate() {
		return lerr // nil for a missing blob: locate reported it
	}
	rs.report(act, tpath)
	if rs.opts.DryRun {
		rs.prog.Bytes.Add(int64(n.Size))
		return nil
	}
	rs.plan(tpath, n, locs, exists && fi.Mode().IsRegular(), have)
	return nil
}

// locate finds the pack locations of a file's blobs. ok is false if one is
// missing (reported).
func (rs *restorer) locate(n *tree.Node, tpath string) ([]index.Location, bool, error) {
	locs := make([]index.Location, len(n.Content))
	for i, id := range n.Content {
		loc, ok, err := rs.r.Lookup(pack.DataBlob, id)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			rs.fail(tpath, fmt.Errorf("data blob %s: %w", id.Short(), repo.ErrBlobNotFound))
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

// localBlobs reports which of a file's blobs the local file p already
// holds at their offsets, by hashing them. It reads nothing from the
// repository.
func (rs *restorer) localBlobs(p string, n *tree.Node, locs []index.Location) []bool {
	have := make([]bool, len(locs))
	f, err := os.Open(p)
	if err != nil {
		return have
	}
	defer f.Close()
	h := rs.r.Key().NewIDHasher()
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
// to its temporary name; blobs already there from an interrupted run, or
// in the file being replaced (reuse), are kept rather than read from the
// repository.
func (rs *restorer) plan(tpath string, n *tree.Node, locs []index.Location, reuse bool, have []bool) {
	fs := &fileState{path: tpath, tmp: tempName(tpath), node: n}
	if st, err := os.Lstat(fs.tmp); err == nil && st.Mode().IsRegular() {
		have = rs.localBlobs(fs.tmp, n, locs)
		fs.resume = true
	} else if reuse {
		if have == nil {
			have = rs.localBlobs(tpath, n, locs)
		}
		if any(have) {
			if err := copyFile(tpath, fs.tmp); err == nil {
				fs.resume = true
			} else {
				os.Remove(fs.tmp)
				have = nil
			}
		}
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

func any(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}

// copyFile copies src to a new file dst (copy_file_range where the file
// system allows).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkLater queues a file for --verify at the end of the batch.
func (rs *restorer) checkLater(tpath string, n *tree.Node) {
	if rs.opts.Verify {
		rs.verify = append(rs.verify, verifyItem{tpath, n})
	}
}

// verifyBatch reads back the files of the batch and checks their blobs.
func (rs *restorer) verifyBatch(items []verifyItem) {
	for _, it := range items {
		if err := rs.ctx.Err(); err != nil {
			return
		}
		locs, ok, err := rs.locate(it.node, it.path)
		if err != nil || !ok {
			continue
		}
		fi, err := os.Lstat(it.path)
		if err != nil {
			rs.fail(it.path, fmt.Errorf("verify: %w", err))
			continue
		}
		if uint64(fi.Size()) != it.node.Size {
			rs.fail(it.path, fmt.Errorf("verify: size %d, want %d", fi.Size(), it.node.Size))
			continue
		}
		for i, ok := range rs.localBlobs(it.path, it.node, locs) {
			if !ok {
				rs.fail(it.path, fmt.Errorf("verify: blob %d of %d (%s) does not match", i+1, len(locs), it.node.Content[i].Short()))
				break
			}
		}
		rs.prog.Verified.Add(1)
	}
}

// special restores a symlink, FIFO or device node, unless the overwrite
// mode keeps what is there.
func (rs *restorer) special(tpath string, n *tree.Node) {
	fi, err := os.Lstat(tpath)
	act := ActionRestore
	if err == nil {
		if fi.IsDir() {
			rs.fail(tpath, errors.New("a directory is in the way"))
			return
		}
		act = rs.decide(n, fi, func() bool { return sameSpecial(tpath, fi, n) })
		switch act {
		case ActionSkip:
			rs.report(act, tpath)
			return
		case ActionUnchanged:
			rs.report(act, tpath)
			if !rs.opts.DryRun {
				if err := rs.fixMeta(tpath, n, fi); err != nil {
					rs.fail(tpath, err)
				}
			}
			return
		}
		act = ActionUpdate
	}
	rs.report(act, tpath)
	if rs.opts.DryRun {
		return
	}
	if err := rs.makeSpecial(tpath, n); err != nil {
		rs.fail(tpath, err)
	}
}

func sameSpecial(p string, fi os.FileInfo, n *tree.Node) bool {
	m := fi.Mode()
	switch n.Type {
	case tree.Symlink:
		target, err := os.Readlink(p)
		return m&os.ModeSymlink != 0 && err == nil && target == n.LinkTarget
	case tree.FIFO:
		return m&os.ModeNamedPipe != 0
	case tree.Device, tree.CharDev:
		st, ok := fi.Sys().(*unix.Stat_t)
		return ok && m&os.ModeDevice != 0 && (m&os.ModeCharDevice != 0) == (n.Type == tree.CharDev) && uint64(st.Rdev) == n.Rdev
	case tree.Socket, tree.Irregular:
		return true // never created; whatever is there stays
	}
	return false
}
