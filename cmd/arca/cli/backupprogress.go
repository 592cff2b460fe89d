package cli

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/snapshot"
)

type backupView struct{ p *backup.Progress }

func (v backupView) line(el time.Duration) string {
	p := v.p
	files, bytes := p.Files.Load(), p.Bytes.Load()
	tf, tb := p.TotalFiles.Load(), p.TotalBytes.Load()
	rate := float64(bytes) / max(el.Seconds(), 0.001)
	s := fmt.Sprintf("[%s] ", clock(el))
	if tb > 0 {
		s += fmt.Sprintf("%5.1f%%  ", 100*float64(bytes)/float64(tb))
	}
	s += fmt.Sprintf("%d", files)
	if tf > 0 {
		s += fmt.Sprintf("/%d", tf)
	}
	s += " files, " + bytesText(bytes)
	if tb > 0 {
		s += "/" + bytesText(tb)
	}
	s += fmt.Sprintf(", %s/s", bytesText(int64(rate)))
	if p.ScanDone.Load() && tb > 0 {
		s += ", ETA " + clock(eta(el, bytes, tb))
	}
	if n := p.Errors.Load(); n > 0 {
		s += fmt.Sprintf(", %d errors", n)
	}
	if cur := p.Current(); len(cur) > 0 {
		s += "  " + strings.Join(cur, " ")
	}
	return s
}

func (v backupView) status(el time.Duration) any {
	p := v.p
	bytes, tb := p.Bytes.Load(), p.TotalBytes.Load()
	pct := 0.0
	if tb > 0 {
		pct = min(1, float64(bytes)/float64(tb))
	}
	remaining := int64(0) // unknown until the scan is done
	if p.ScanDone.Load() {
		remaining = int64(eta(el, bytes, tb).Seconds())
	}
	return map[string]any{
		"message_type": "status", "seconds_elapsed": int64(el.Seconds()), "seconds_remaining": remaining,
		"percent_done": pct, "total_files": p.TotalFiles.Load(), "files_done": p.Files.Load(),
		"total_bytes": tb, "bytes_done": bytes, "error_count": p.Errors.Load(), "current_files": p.Current(),
	}
}

// backupItems prints what happened to each file (-v: new and modified
// files; -vv: every file and directory), as restic's text or its
// verbose_status JSON lines.
func (a *app) backupItems() func(backup.Item) {
	if a.verbose == 0 || a.quiet {
		return nil
	}
	var mu sync.Mutex
	tty := a.isTerminal() && !a.json
	return func(it backup.Item) {
		if a.verbose < 2 && (it.Dir || it.Action == backup.ActionUnchanged) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if a.json {
			a.printJSON(map[string]any{
				"message_type": "verbose_status", "action": it.Action, "item": it.Path, "duration": it.Duration.Seconds(),
				"data_size": it.DataAdded, "data_size_in_repo": it.DataStored,
				"metadata_size": it.MetaSize, "metadata_size_in_repo": it.MetaStored, "total_files": 0,
			})
			return
		}
		if tty {
			fmt.Fprint(a.stdout, "\r\033[K") // under the progress line
		}
		fmt.Fprintln(a.stdout, itemLine(it))
	}
}

// itemLine is restic's -vv line for an item.
func itemLine(it backup.Item) string {
	word := fmt.Sprintf("%-9s %s", it.Action, it.Path)
	switch {
	case it.Action == backup.ActionUnchanged:
		return word
	case it.Dir:
		return fmt.Sprintf("%s, saved in %.3fs (%s added, %s stored, %s metadata)", word, it.Duration.Seconds(),
			bytesText(it.DataAdded), bytesText(it.DataStored), bytesText(it.MetaStored))
	case it.Action == backup.ActionNew:
		return fmt.Sprintf("%s, saved in %.3fs (%s added)", word, it.Duration.Seconds(), bytesText(it.DataAdded))
	}
	return fmt.Sprintf("%s, saved in %.3fs (%s added, %s stored)", word, it.Duration.Seconds(), bytesText(it.DataAdded), bytesText(it.DataStored))
}

// printBackupSummary renders the end of a backup.
func (a *app) printBackupSummary(sn *snapshot.Snapshot, dryRun bool) {
	s := sn.Summary
	if a.json {
		var id any = sn.ID
		if dryRun {
			id = nil
		}
		a.printJSON(map[string]any{
			"message_type": "summary", "snapshot_id": id, "dry_run": dryRun, "parent": sn.Parent, "kind": sn.Kind,
			"files_new": s.FilesNew, "files_changed": s.FilesChanged, "files_unmodified": s.FilesUnmodified,
			"dirs_new": s.DirsNew, "dirs_changed": s.DirsChanged, "dirs_unmodified": s.DirsUnmodified,
			"data_blobs": s.DataBlobs, "tree_blobs": s.TreeBlobs,
			"data_added": s.DataAdded, "data_added_packed": s.DataAddedPacked,
			"total_files_processed": s.TotalFilesProcessed, "total_bytes_processed": s.TotalBytesProcessed,
			"bytes_read": s.BytesRead, "total_duration": s.Duration().Seconds(), "errors": s.Errors,
			"changed_while_read": s.ChangedWhileRead,
		})
		return
	}
	if a.quiet {
		return
	}
	if sn.Parent != nil {
		a.printf("%s backup, compared with snapshot %s\n", sn.Kind, sn.Parent.Short())
	} else {
		a.printf("%s backup\n", sn.Kind)
	}
	a.printf("Files: %d new, %d changed, %d unmodified\n", s.FilesNew, s.FilesChanged, s.FilesUnmodified)
	a.printf("Dirs:  %d new, %d changed, %d unmodified\n", s.DirsNew, s.DirsChanged, s.DirsUnmodified)
	if dryRun {
		a.printf("Would add to the repository: %s (about %s stored)\n", bytesText(s.DataAdded), bytesText(s.DataAddedPacked))
	} else {
		a.printf("Added to the repository: %s (%s stored)\n", bytesText(s.DataAdded), bytesText(s.DataAddedPacked))
	}
	a.printf("processed %d files, %s in %s\n", s.TotalFilesProcessed, bytesText(s.TotalBytesProcessed), s.Duration().Round(time.Millisecond))
	if len(s.Errors) > 0 {
		a.printf("%d entries could not be read:\n", len(s.Errors))
		for _, e := range s.Errors {
			a.printf("  %s\n", e)
		}
	}
	if len(s.ChangedWhileRead) > 0 {
		a.printf("%d files changed while they were read (their stored content may be inconsistent):\n", len(s.ChangedWhileRead))
		for _, p := range s.ChangedWhileRead {
			a.printf("  %s\n", p)
		}
	}
	if dryRun {
		a.printf("dry run: nothing was written\n")
		return
	}
	a.printf("snapshot %s saved\n", sn.ID.Short())
}
