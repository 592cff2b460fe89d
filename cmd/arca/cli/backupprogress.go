package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/arcabackup/arca/repo/backup"
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
	m := map[string]any{
		"message_type": "status", "seconds_elapsed": int64(el.Seconds()), "percent_done": pct,
		"total_files": p.TotalFiles.Load(), "files_done": p.Files.Load(),
		"total_bytes": tb, "bytes_done": bytes, "error_count": p.Errors.Load(),
	}
	if p.ScanDone.Load() {
		m["seconds_remaining"] = int64(eta(el, bytes, tb).Seconds())
	}
	if cur := p.Current(); len(cur) > 0 {
		m["current_files"] = cur
	}
	return m
}
