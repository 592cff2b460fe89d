package cli

import (
	"fmt"
	"time"

	"github.com/arcabackup/arca/repo/filter"
	"github.com/arcabackup/arca/repo/restore"
	"github.com/spf13/cobra"
)

// restoreFilterFlags are restore's --include and --exclude options.
type restoreFilterFlags struct {
	include, iinclude, includeFile, iincludeFile []string
	exclude, iexclude, excludeFile, iexcludeFile []string
}

func (r *restoreFilterFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVarP(&r.include, "include", "i", nil, "restore only paths matching `pattern` (repeatable; docs/filters.md)")
	f.StringArrayVar(&r.iinclude, "iinclude", nil, "like --include, ignoring case")
	f.StringArrayVar(&r.includeFile, "include-file", nil, "read include patterns from a `file`")
	f.StringArrayVar(&r.iincludeFile, "iinclude-file", nil, "like --include-file, ignoring case")
	f.StringArrayVarP(&r.exclude, "exclude", "e", nil, "do not restore paths matching `pattern` (repeatable)")
	f.StringArrayVar(&r.iexclude, "iexclude", nil, "like --exclude, ignoring case")
	f.StringArrayVar(&r.excludeFile, "exclude-file", nil, "read exclude patterns from a `file`")
	f.StringArrayVar(&r.iexcludeFile, "iexclude-file", nil, "like --exclude-file, ignoring case")
}

func patternList(plain, folded, plainFiles, foldedFiles []string) (*filter.List, error) {
	l := &filter.List{}
	if err := l.Add(plain, false); err != nil {
		return nil, err
	}
	if err := l.Add(folded, true); err != nil {
		return nil, err
	}
	for _, set := range []struct {
		files []string
		fold  bool
	}{{plainFiles, false}, {foldedFiles, true}} {
		for _, file := range set.files {
			lines, err := readLines(file, true)
			if err != nil {
				return nil, err
			}
			if err := l.Add(lines, set.fold); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
		}
	}
	if l.Empty() {
		return nil, nil
	}
	return l, nil
}

// restoreView renders restore progress.
type restoreView struct{ p *restore.Progress }

func (v restoreView) line(el time.Duration) string {
	return fmt.Sprintf("[%s] %d files, %s restored, %s read", clock(el), v.p.Files.Load(), bytesText(v.p.Bytes.Load()), bytesText(v.p.BytesRead.Load()))
}

func (v restoreView) status(el time.Duration) any {
	return map[string]any{"message_type": "status", "seconds_elapsed": int64(el.Seconds()), "files_restored": v.p.Files.Load(),
		"files_unchanged": v.p.Unchanged.Load(), "bytes_restored": v.p.Bytes.Load(), "bytes_read": v.p.BytesRead.Load(),
		"error_count": v.p.Errors.Load()}
}
