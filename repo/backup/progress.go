package backup

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Item is what a backup did with one file or directory, restic's
// verbose_status.
type Item struct {
	Action   string // ActionNew, ActionModified or ActionUnchanged
	Path     string // a directory's ends in "/"
	Dir      bool
	Duration time.Duration // from when the file was opened, or the directory listed
	// DataAdded and DataStored are the plaintext and stored bytes of the
	// file's new data blobs; MetaSize and MetaStored the size of a
	// directory's tree and what it added to the repository.
	DataAdded, DataStored, MetaSize, MetaStored int64
}

// Item actions.
const (
	ActionNew       = "new"
	ActionModified  = "modified"
	ActionUnchanged = "unchanged"
)

func (a *archiver) report(it Item) {
	if a.opts.Report != nil {
		a.opts.Report(it)
	}
}

// Progress is updated atomically during a backup.
type Progress struct {
	Files     atomic.Int64 // files done
	Dirs      atomic.Int64
	Bytes     atomic.Int64 // bytes of files done, read or reused
	BytesRead atomic.Int64
	Errors    atomic.Int64
	Added     atomic.Int64 // plaintext bytes of new blobs
	Excluded  atomic.Int64 // entries left out by excludes
	// TotalFiles and TotalBytes are counted by a scan running ahead of
	// the backup (Options.Scan); ScanDone says they are final.
	TotalFiles atomic.Int64
	TotalBytes atomic.Int64
	ScanDone   atomic.Bool
	mu         sync.Mutex
	current    map[string]struct{}
}

// Current returns the files being read now.
func (p *Progress) Current() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.current))
	for f := range p.current {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func (p *Progress) start(path string) {
	p.mu.Lock()
	if p.current == nil {
		p.current = map[string]struct{}{}
	}
	p.current[path] = struct{}{}
	p.mu.Unlock()
}

func (p *Progress) done(path string) {
	p.mu.Lock()
	delete(p.current, path)
	p.mu.Unlock()
}
