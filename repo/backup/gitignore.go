package backup

import (
	"os"
	"path/filepath"

	"github.com/arcabackup/arca/repo/filter"
)

// ignorer carries the .gitignore rules in force in a directory.
type ignorer struct {
	rules *filter.GitIgnore
}

// newIgnorer returns the rules for directory dir: parent's plus dir's own
// .gitignore. It returns nil when --git-ignore is off.
func (a *archiver) newIgnorer(parent *ignorer, dir string) *ignorer {
	if !a.opts.Excludes.GitIgnore {
		return nil
	}
	var rules *filter.GitIgnore
	if parent != nil {
		rules = parent.rules
	}
	data, err := readNoatime(filepath.Join(dir, ".gitignore"))
	if err != nil && !os.IsNotExist(err) {
		a.warn(filepath.Join(dir, ".gitignore"), err)
	}
	return &ignorer{rules: rules.With(dir, data)}
}

func (ig *ignorer) ignored(path string, isDir bool) bool {
	return ig.rules.Ignored(path, isDir)
}

// ancestorIgnorer returns the rules that apply to the entries of dir from
// dir and its ancestors, starting at the root of the git work tree dir is
// in (the nearest ancestor holding .git). Outside a work tree there are
// none.
func (a *archiver) ancestorIgnorer(dir string) *ignorer {
	if !a.opts.Excludes.GitIgnore {
		return nil
	}
	var chain []string
	for d := dir; ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			break
		}
		if d == filepath.Dir(d) {
			return &ignorer{}
		}
	}
	var ig *ignorer
	for i := len(chain) - 1; i >= 0; i-- {
		ig = a.newIgnorer(ig, chain[i])
	}
	return ig
}
