// Package prune frees the space of data no snapshot references, by
// two-phase garbage collection (docs/design.md, "Two-phase garbage
// collection"): a prune marks packs as candidates in a candidate list and
// deletes nothing; a later prune deletes a candidate once the safety
// margin has passed, every writer that was running at the marking has
// finished, and no snapshot references a blob that lives only in it.
package prune

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
)

// DefaultMargin is how long candidates stay marked before a prune may
// delete them.
const DefaultMargin = time.Hour

// Options configure a prune.
type Options struct {
	// Margin is how long after their marking candidates may be deleted
	// (DefaultMargin in the CLI; tests shorten it).
	Margin time.Duration
	// MaxUnused is how much unused space may stay in packs that are
	// partly used, before they are repacked.
	MaxUnused Limit
	// MaxRepackBytes bounds the size of the packs repacked in one run (0:
	// no bound).
	MaxRepackBytes int64
	// DryRun plans and reports without writing or deleting anything.
	DryRun bool
	// Now sweeps what it marks in the same run: for a prune that holds the
	// repository exclusively (no other writer can be running).
	Now bool
	// Heartbeat is this prune's announcement (nil for a dry run).
	Heartbeat *repo.Heartbeat
	// StorageNow is the current time by the storage's clock
	// (Heartbeat.StorageTime); prune refuses to run when the local clock
	// differs from it by more than repo.MaxClockSkew. Zero means the
	// local clock.
	StorageNow time.Time
	// Log reports progress (may be nil).
	Log func(msg string)
	// Used, if not nil, is told how many blobs the snapshots use once
	// they are known: the size of what prune holds in memory throughout.
	Used func(blobs int)
}

// Limit is a size in bytes or a percentage.
type Limit struct {
	Bytes     int64
	Percent   float64
	Unlimited bool
}

// allowed returns how many unused bytes the limit allows beside used
// bytes: a percentage is of the total after pruning, as restic's.
func (l Limit) allowed(used int64) int64 {
	switch {
	case l.Unlimited:
		return 1 << 62
	case l.Percent > 0:
		if l.Percent >= 100 {
			return 1 << 62
		}
		return int64(l.Percent / (100 - l.Percent) * float64(used))
	}
	return l.Bytes
}

// Stats count packs and bytes.
type Stats struct {
	Packs int   `json:"packs"`
	Bytes int64 `json:"bytes"`
}

func (s *Stats) add(size int64) { s.Packs++; s.Bytes += size }

// Waiting is a candidate list not swept yet, and why.
type Waiting struct {
	List   crypto.ID `json:"list"`
	Marked time.Time `json:"marked"`
	Reason string    `json:"reason"`
}

// Result is what a prune did (or, in a dry run, would do).
type Result struct {
	DryRun    bool  `json:"dry_run"`
	Snapshots int   `json:"snapshots"`
	UsedBlobs int   `json:"used_blobs"`
	Total     Stats `json:"total"` // indexed packs at the start
	// The sweep: candidates deleted, and candidates kept after all
	// because a snapshot written after the marking uses them.
	Swept     []crypto.ID `json:"swept_lists"`
	Deleted   Stats       `json:"deleted"`
	Unmarked  Stats       `json:"unmarked"`
	Recovered Stats       `json:"recovered"` // packs in no index that hold used blobs, indexed again
	Waiting   []Waiting   `json:"waiting,omitempty"`
	Removed   []crypto.ID `json:"removed_lists,omitempty"` // incomplete or unreadable lists removed
	// IndexFiles counts index files written (and Superseded those they
	// replaced) to drop deleted packs from the index.
	IndexFiles int `json:"index_files_written"`
	Superseded int `json:"index_files_superseded"`
	// The marking: packs no snapshot uses, packs repacked (their used
	// blobs copied into new packs), and packs in no index file.
	Marked      crypto.ID `json:"marked_list,omitzero"`
	Unused      Stats     `json:"unused"`
	Repack      Stats     `json:"repack"`
	RepackBlobs int       `json:"repack_blobs"`
	RepackBytes int64     `json:"repack_bytes"` // plaintext bytes of the blobs copied
	Orphans     Stats     `json:"orphans"`
	// UnusedLeft is unused space that stays in kept packs.
	UnusedLeft int64 `json:"unused_left"`
}

// Run prunes r. The caller has announced it as a writer of operation
// "prune" (opts.Heartbeat), solo among prunes, and exclusive when
// opts.Now; a dry run writes nothing and needs no announcement.
func Run(ctx context.Context, r *repo.Repository, opts Options) (*Result, error) {
	if v := r.Config().Version; v < repo.ConfigVersion2 {
		return nil, fmt.Errorf("prune: the repository has format version %d; prune needs version %d, whose writers respect its candidate lists: once every host runs this arca (or later), run 'arca migrate'", v, repo.ConfigVersion2)
	}
	if opts.Heartbeat == nil && !opts.DryRun {
		return nil, errors.New("prune: not announced")
	}
	if opts.Log == nil {
		opts.Log = func(string) {}
	}
	if opts.StorageNow.IsZero() {
		opts.StorageNow = r.Now()
	}
	if skew := r.Now().Sub(opts.StorageNow); !opts.DryRun && (skew > repo.MaxClockSkew || skew < -repo.MaxClockSkew) {
		return nil, fmt.Errorf("prune: this host's clock differs from the storage's by %s (more than %s): prune measures its margin by the storage's clock; fix the clock first", skew.Round(time.Second), repo.MaxClockSkew)
	}
	if r.DamageCount() > 0 {
		return nil, fmt.Errorf("%w: the repository has damaged objects (reported above)", ErrUnreadable)
	}
	p := &pruner{r: r, opts: opts, res: &Result{DryRun: opts.DryRun}, started: time.Now()}
	if err := p.run(ctx); err != nil {
		return p.res, err
	}
	return p.res, nil
}

type pruner struct {
	started time.Time
	r       *repo.Repository
	opts    Options
	res     *Result

	lists   []repo.CandidateList
	used    usedSet
	ripe    []repo.CandidateList
	pending map[crypto.ID]bool // packs in lists not swept in this run
}

func (p *pruner) run(ctx context.Context) error {
	r := p.r
	if err := r.SyncIndex(ctx); err != nil {
		return err
	}
	lists, damaged, err := r.CandidateLists(ctx)
	if err != nil {
		return err
	}
	p.lists = lists
	// Which lists may be swept is decided before the snapshots are read:
	// a writer seen finished now has saved its snapshot already.
	if err := p.chooseRipe(ctx); err != nil {
		return err
	}
	p.opts.Log("finding the blobs snapshots use")
	used, snaps, err := findUsed(ctx, r)
	if err != nil {
		return err
	}
	p.used, p.res.Snapshots, p.res.UsedBlobs = used, snaps, len(used)
	if p.opts.Used != nil {
		p.opts.Used(len(used))
	}
	if !p.opts.DryRun {
		for _, id := range damaged {
			if err := removeList(ctx, r, id); err != nil {
				return err
			}
			p.res.Removed = append(p.res.Removed, id)
		}
	}
	if len(p.ripe) > 0 {
		p.opts.Log(fmt.Sprintf("sweeping %d candidate lists", len(p.ripe)))
		if err := p.sweep(ctx, p.ripe); err != nil {
			return err
		}
	}
	p.opts.Log("planning")
	pl, err := p.plan(ctx)
	if err != nil {
		return err
	}
	if p.opts.DryRun || len(pl.candidates) == 0 {
		return nil
	}
	list, err := p.mark(ctx, pl)
	if err != nil {
		return err
	}
	if p.opts.Now {
		p.opts.Log("sweeping what was marked (--now)")
		return p.sweep(ctx, []repo.CandidateList{list})
	}
	return nil
}

// chooseRipe sorts the candidate lists into those this run sweeps and
// those that wait (reported with the reason).
func (p *pruner) chooseRipe(ctx context.Context) error {
	beats, err := p.r.Heartbeats(ctx)
	if err != nil {
		return err
	}
	self := ""
	if p.opts.Heartbeat != nil {
		self = p.opts.Heartbeat.Info().Session
	}
	host := ""
	if p.opts.Heartbeat != nil {
		host = p.opts.Heartbeat.Info().Hostname
	}
	running := map[string]repo.HeartbeatInfo{}
	for _, h := range beats {
		if stale, _ := h.Stale(p.r.Now(), host); !stale && h.Session != self {
			running[h.Session] = h
		}
	}
	p.pending = map[crypto.ID]bool{}
	for _, l := range p.lists {
		why := ""
		age := p.opts.StorageNow.Sub(l.Marked)
		switch {
		case !l.Complete:
			if age < p.opts.Margin && running[l.Session].Session != "" {
				why = "its prune is still marking"
			} else if !p.opts.DryRun {
				// A prune killed between writing the list and completing
				// it: un-mark everything.
				if err := removeList(ctx, p.r, l.ID); err != nil {
					return err
				}
				p.res.Removed = append(p.res.Removed, l.ID)
				continue
			}
		case age < p.opts.Margin && !p.opts.Now:
			why = fmt.Sprintf("marked %s ago; the margin is %s", age.Round(time.Second), p.opts.Margin)
		default:
			for _, s := range l.Writers {
				if h, ok := running[s]; ok {
					why = fmt.Sprintf("a writer running since the marking has not finished: %s", h)
					break
				}
			}
		}
		if why != "" {
			p.res.Waiting = append(p.res.Waiting, Waiting{List: l.ID, Marked: l.Marked, Reason: why})
			for _, id := range l.Packs {
				p.pending[id] = true
			}
			continue
		}
		p.ripe = append(p.ripe, l)
	}
	return nil
}

func removeList(ctx context.Context, r *repo.Repository, id crypto.ID) error {
	return ignoreGone(r.RemoveFile(ctx, backendPrune, id))
}
