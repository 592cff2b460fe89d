package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo/backend"
)

// Candidate lists (docs/format.md, "Candidate list"; docs/design.md,
// "Two-phase garbage collection"). A prune marks packs for deletion by
// writing a candidate list; a later prune deletes them once it is safe.
// Writers read the lists when they start and whenever they refresh their
// heartbeat, and treat blobs that live only in candidate packs as absent,
// so they never come to rely on a pack that is about to go.

// CandidateListVersion is the version of the candidate list format.
const CandidateListVersion = 1

// CandidateList is one prune's marking.
type CandidateList struct {
	Version int    `json:"version"`
	Session string `json:"session"` // the marking prune's heartbeat session
	// Marked is when the list was written, by the storage's clock.
	Marked time.Time `json:"marked"`
	// Complete says that Writers is known: the list was written, then the
	// heartbeats were read. An incomplete list (its prune was killed in
	// between) is never swept; the next prune removes it.
	Complete bool `json:"complete"`
	// Writers are the sessions whose heartbeats were fresh right after
	// the list was first written: a sweep waits until each has finished.
	Writers []string `json:"writers"`
	// Packs are the candidates.
	Packs []crypto.ID `json:"packs"`

	ID crypto.ID `json:"-"` // the file's name
}

// ParseCandidateList decodes and checks a candidate list's plaintext.
func ParseCandidateList(b []byte) (CandidateList, error) {
	var c CandidateList
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%w: candidate list: %v", ErrCorrupt, err)
	}
	if c.Version != CandidateListVersion {
		return c, fmt.Errorf("%w: candidate list version %d, want %d", ErrCorrupt, c.Version, CandidateListVersion)
	}
	if c.Marked.IsZero() || c.Session == "" {
		return c, fmt.Errorf("%w: candidate list without marking time or session", ErrCorrupt)
	}
	return c, nil
}

// SaveCandidateList writes c and returns its ID.
func (r *Repository) SaveCandidateList(ctx context.Context, c CandidateList) (crypto.ID, error) {
	c.Version = CandidateListVersion
	plain, err := json.Marshal(c)
	if err != nil {
		return crypto.ID{}, err
	}
	return r.SaveFile(ctx, backend.PruneFile, crypto.KindCandidates, plain)
}

// CandidateLists reads every candidate list. A list that cannot be read is
// reported through Warn and returned by ID in damaged: its packs are
// unknown, so no sweep deletes them; prune removes it.
func (r *Repository) CandidateLists(ctx context.Context) (lists []CandidateList, damaged []crypto.ID, err error) {
	ids, err := r.ListFiles(ctx, backend.PruneFile)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		plain, err := r.LoadFile(ctx, backend.PruneFile, crypto.KindCandidates, id)
		if errors.Is(err, backend.ErrNotExist) {
			continue // swept or replaced meanwhile
		}
		var c CandidateList
		if err == nil {
			c, err = ParseCandidateList(plain)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			r.Warn(fmt.Sprintf("prune/%s cannot be read: %v (the next prune removes it)", id.Short(), err))
			damaged = append(damaged, id)
			continue
		}
		c.ID = id
		lists = append(lists, c)
	}
	slices.SortFunc(lists, func(a, b CandidateList) int { return a.Marked.Compare(b.Marked) })
	return lists, damaged, nil
}

// candidates is the set of packs that writers must not rely on.
type candidates struct {
	packs atomic.Pointer[map[crypto.ID]bool]
}

func (c *candidates) has(p crypto.ID) bool {
	m := c.packs.Load()
	return m != nil && (*m)[p]
}

// ReadCandidates reads the candidate lists and from now on treats blobs
// that live only in their packs as absent (Writer.Has and SaveBlob store
// them again). Writers call it when they start, after writing their
// heartbeat, and on every refresh.
func (r *Repository) ReadCandidates(ctx context.Context) error {
	lists, _, err := r.CandidateLists(ctx)
	if err != nil {
		return err
	}
	m := map[crypto.ID]bool{}
	for _, c := range lists {
		for _, p := range c.Packs {
			m[p] = true
		}
	}
	r.avoidMu.Lock()
	maps.Copy(m, r.avoid)
	r.cands.packs.Store(&m)
	r.avoidMu.Unlock()
	return nil
}

// Avoid adds packs to those treated as absent for this process, whatever
// the candidate lists say: a prune that repacks writes the blobs of these
// packs anew.
func (r *Repository) Avoid(packs []crypto.ID) {
	r.avoidMu.Lock()
	defer r.avoidMu.Unlock()
	if r.avoid == nil {
		r.avoid = map[crypto.ID]bool{}
	}
	m := map[crypto.ID]bool{}
	if cur := r.cands.packs.Load(); cur != nil {
		maps.Copy(m, *cur)
	}
	for _, p := range packs {
		r.avoid[p] = true
		m[p] = true
	}
	r.cands.packs.Store(&m)
}

// IsCandidate reports whether pack p is in a candidate list read by
// ReadCandidates (or avoided).
func (r *Repository) IsCandidate(p crypto.ID) bool { return r.cands.has(p) }
