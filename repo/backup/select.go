package backup

import (
	"bytes"
	"io"
	"path/filepath"

	"github.com/arcabackup/arca/repo/filter"
	"github.com/arcabackup/arca/repo/tree"
)

// Excludes chooses what a backup leaves out. The zero value keeps
// everything.
type Excludes struct {
	// Patterns are matched against absolute paths (filter syntax); a
	// matching entry is left out, with its contents.
	Patterns *filter.List
	// IfPresent leaves out directories that hold a file of this name
	// (and, if Header is set, whose content starts with it).
	IfPresent []Marker
	// LargerThan leaves out files larger than this many bytes; 0 means
	// no limit.
	LargerThan int64
	// OneFileSystem does not descend into directories on another file
	// system than the backup path they are under; the mount point itself
	// is kept, empty.
	OneFileSystem bool
	// GitIgnore honours .gitignore files (see GitIgnore).
	GitIgnore bool
	// Given are the exclude patterns as the user gave them, recorded in
	// the snapshot.
	Given []string
}

// Marker names a file whose presence excludes its directory.
type Marker struct {
	Name   string
	Header string
}

// CacheDirTag marks cache directories (https://bford.info/cachedir/).
var CacheDirTag = Marker{Name: "CACHEDIR.TAG", Header: "Signature: 8a477f597d28d172789f06886806bc55"}

// decision is what to do with one entry.
type decision int

const (
	keep       decision = iota
	skipEntry           // leave out
	keepNoWalk          // keep the directory, empty
	walkInside          // excluded, but a pattern may re-include something inside: keep only what is
)

func (a *archiver) decide(path string, n *tree.Node, rootDev uint64, ign *ignorer) decision {
	ex := &a.opts.Excludes
	if ex.Patterns.Match(path) {
		if n.Type == tree.Dir && ex.Patterns.MayIncludeBelow(path) {
			return walkInside
		}
		return skipEntry
	}
	if ign != nil && ign.ignored(path, n.Type == tree.Dir) {
		return skipEntry
	}
	if n.Type == tree.File && ex.LargerThan > 0 && int64(n.Size) > ex.LargerThan {
		return skipEntry
	}
	if n.Type == tree.Dir {
		for _, m := range ex.IfPresent {
			if hasMarker(filepath.Join(path, m.Name), m.Header) {
				return skipEntry
			}
		}
		if ex.OneFileSystem && n.Device != rootDev {
			return keepNoWalk
		}
	}
	return keep
}

func hasMarker(path, header string) bool {
	f, err := openNoatime(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if header == "" {
		return true
	}
	buf := make([]byte, len(header))
	if _, err := io.ReadFull(f, buf); err != nil {
		return false
	}
	return bytes.Equal(buf, []byte(header))
}
