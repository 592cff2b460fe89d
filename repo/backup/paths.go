package backup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// ErrPathMissing is wrapped when a path given to back up does not exist or
// cannot be read at all: nothing is backed up.
var ErrPathMissing = errors.New("backup: path to back up cannot be read")

// checkPaths makes sure every path given exists and can be read (a
// directory listed, a file opened), before anything is stored.
func checkPaths(paths []string) error {
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err == nil && (fi.IsDir() || fi.Mode().IsRegular()) {
			var f *os.File
			if f, err = openNoatime(p); err == nil {
				if fi.IsDir() {
					_, err = f.Readdirnames(1)
					if errors.Is(err, io.EOF) {
						err = nil
					}
				}
				f.Close()
			}
		}
		if err != nil {
			cause := err
			if u := errors.Unwrap(err); u != nil {
				cause = u
			}
			return fmt.Errorf("%w: %s: %v; nothing was backed up", ErrPathMissing, p, cause)
		}
	}
	return nil
}

// CleanPaths makes paths absolute and clean, sorts them and drops paths
// inside others.
func CleanPaths(in []string) ([]string, error) {
	var out []string
	for _, p := range in {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("backup: %s: %w", p, err)
		}
		out = append(out, abs)
	}
	sort.Strings(out)
	out = slices.Compact(out)
	var kept []string
	for _, p := range out {
		nested := false
		for _, k := range kept {
			if k == "/" || strings.HasPrefix(p, k+"/") {
				nested = true
				break
			}
		}
		if !nested {
			kept = append(kept, p)
		}
	}
	return kept, nil
}
