package backup

import (
	"path/filepath"
	"sort"

	"github.com/arcabackup/arca/repo/tree"
)

// scan walks the backup paths ahead of the backup, applying the same
// excludes, and counts files and bytes into the progress totals, so that
// progress can show a percentage and an ETA. It reads no file contents.
func (a *archiver) scan(paths []string) {
	defer a.prog.ScanDone.Store(true)
	for _, p := range paths {
		if a.stopped() || a.scanStop.Load() {
			return
		}
		n, err := a.lstatNode(nil, filepath.Base(p), p)
		if err != nil {
			continue
		}
		a.scanEntry(p, &n, n.Device, a.ancestorIgnorer(filepath.Dir(p)))
	}
}

func (a *archiver) scanEntry(path string, n *tree.Node, rootDev uint64, ign *ignorer) {
	d := a.decide(path, n, rootDev, ign)
	if d == skipEntry {
		return
	}
	switch n.Type {
	case tree.File:
		a.prog.TotalFiles.Add(1)
		a.prog.TotalBytes.Add(int64(n.Size))
		return
	case tree.Dir:
	default:
		return // symlinks and special files are not counted as files
	}
	if d == keepNoWalk {
		return
	}
	dir, err := openDir(path)
	if err != nil {
		return
	}
	defer dir.release()
	names, err := dir.f.Readdirnames(-1)
	if err != nil {
		return
	}
	sort.Strings(names)
	ign = a.newIgnorer(ign, path)
	for _, name := range names {
		if a.stopped() || a.scanStop.Load() {
			return
		}
		p := filepath.Join(path, name)
		c, err := a.lstatNode(dir, name, p)
		if err != nil {
			continue
		}
		a.scanEntry(p, &c, rootDev, ign)
	}
}
