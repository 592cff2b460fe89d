package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/filter"
	"github.com/spf13/pflag"
)

// selectFlags are backup's flags that choose what is stored.
type selectFlags struct {
	exclude, iexclude           []string
	excludeFile, iexcludeFile   []string
	ifPresent                   []string
	caches                      bool
	largerThan                  string
	oneFS                       bool
	gitIgnore                   bool
	filesFrom, verbatim, rawish []string
}

func (s *selectFlags) register(f *pflag.FlagSet) {
	f.StringArrayVarP(&s.exclude, "exclude", "e", nil, "leave out paths matching `pattern` (repeatable; see docs/filters.md)")
	f.StringArrayVar(&s.iexclude, "iexclude", nil, "like --exclude, ignoring case")
	f.StringArrayVar(&s.excludeFile, "exclude-file", nil, "read exclude patterns from a `file`, one per line (docs/filters.md)")
	f.StringArrayVar(&s.iexcludeFile, "iexclude-file", nil, "like --exclude-file, ignoring case")
	f.StringArrayVar(&s.ifPresent, "exclude-if-present", nil, "leave out directories holding a file `name[:header]`")
	f.BoolVar(&s.caches, "exclude-caches", false, "leave out directories holding a valid CACHEDIR.TAG")
	f.StringVar(&s.largerThan, "exclude-larger-than", "", "leave out files larger than `size` (e.g. 500K, 2G)")
	f.BoolVarP(&s.oneFS, "one-file-system", "x", false, "do not cross file system boundaries")
	f.BoolVar(&s.gitIgnore, "git-ignore", false, "honour .gitignore files as git does (see docs/filters.md)")
	f.StringArrayVar(&s.filesFrom, "files-from", nil, "read paths to back up from a `file` (# comments, globs)")
	f.StringArrayVar(&s.verbatim, "files-from-verbatim", nil, "read paths from a `file`, one per line, exactly")
	f.StringArrayVar(&s.rawish, "files-from-raw", nil, "read NUL-separated paths from a `file`")
}

// excludes builds the backup's Excludes.
func (s *selectFlags) excludes() (backup.Excludes, error) {
	ex := backup.Excludes{OneFileSystem: s.oneFS, GitIgnore: s.gitIgnore}
	ex.Given = append(slices.Clone(s.exclude), s.iexclude...)
	l := &filter.List{}
	if err := l.Add(s.exclude, false); err != nil {
		return ex, err
	}
	if err := l.Add(s.iexclude, true); err != nil {
		return ex, err
	}
	for _, set := range []struct {
		files []string
		fold  bool
	}{{s.excludeFile, false}, {s.iexcludeFile, true}} {
		for _, file := range set.files {
			lines, err := readLines(file, true)
			if err != nil {
				return ex, err
			}
			if err := l.Add(lines, set.fold); err != nil {
				return ex, fmt.Errorf("%s: %w", file, err)
			}
		}
	}
	if !l.Empty() {
		ex.Patterns = l
	}
	for _, m := range s.ifPresent {
		name, header, _ := strings.Cut(m, ":")
		ex.IfPresent = append(ex.IfPresent, backup.Marker{Name: name, Header: header})
	}
	if s.caches {
		ex.IfPresent = append(ex.IfPresent, backup.CacheDirTag)
	}
	if s.largerThan != "" {
		n, err := parseSize(s.largerThan)
		if err != nil {
			return ex, fmt.Errorf("--exclude-larger-than: %w", err)
		}
		ex.LargerThan = n
	}
	return ex, nil
}

// paths returns args plus the paths read from --files-from*.
func (s *selectFlags) paths(args []string) ([]string, error) {
	out := append([]string(nil), args...)
	for _, file := range s.filesFrom {
		lines, err := readLines(file, true)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			matches, err := filepath.Glob(l)
			if err != nil || len(matches) == 0 {
				out = append(out, l) // not a glob, or nothing matched: backup reports it
				continue
			}
			out = append(out, matches...)
		}
	}
	for _, file := range s.verbatim {
		lines, err := readLines(file, false)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	for _, file := range s.rawish {
		data, err := readFileOrStdin(file)
		if err != nil {
			return nil, err
		}
		for _, p := range bytes.Split(data, []byte{0}) {
			if len(p) > 0 {
				out = append(out, string(p))
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nothing to back up: give paths or --files-from")
	}
	return out, nil
}

func readFileOrStdin(file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(os.Stdin)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return data, nil
}

// readLines returns the non-empty lines of file; with comments, lines
// starting with # are skipped and surrounding spaces trimmed.
func readLines(file string, comments bool) ([]string, error) {
	data, err := readFileOrStdin(file)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSuffix(l, "\r")
		if comments {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, "#") {
				continue
			}
		}
		if l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

// parseSize parses "1234", "500K", "1.5M", "2G", "1T" (binary units, an
// optional trailing "B" or "iB").
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int64(v * float64(mult)), nil
}
