package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo/backend"
)

// Heartbeats (docs/format.md, "Heartbeat"; docs/design.md, "Writers
// announce themselves"). Every writer keeps a heartbeat file in locks/
// while it runs, so that maintenance can tell a running writer from one
// that is gone.
const (
	// HeartbeatInterval is how often a writer writes a new heartbeat.
	HeartbeatInterval = 5 * time.Minute
	// StaleAfter is how old a heartbeat must be before it is taken for a
	// writer that is gone.
	StaleAfter = 30 * time.Minute
	// maxSilence is how long a writer goes on without refreshing its
	// heartbeat: it stops well before others could take it for gone.
	maxSilence = StaleAfter / 2
)

// HeartbeatVersion is the version of the heartbeat format.
const HeartbeatVersion = 1

// HeartbeatInfo is one heartbeat: a writer's session, as of Time.
type HeartbeatInfo struct {
	Version   int       `json:"version"`
	Session   string    `json:"session"`   // random; the same in all of a session's heartbeats
	Operation string    `json:"operation"` // backup, tag, key, forget, prune
	Exclusive bool      `json:"exclusive,omitempty"`
	Hostname  string    `json:"hostname"`
	Username  string    `json:"username,omitempty"`
	PID       int       `json:"pid"`
	Start     time.Time `json:"start"`
	Time      time.Time `json:"time"`

	ID crypto.ID `json:"-"` // the file's name
}

// ErrBusy is wrapped when a writer cannot start because of another one:
// an exclusive one, or any one for an exclusive writer.
var ErrBusy = errors.New("repo: another writer is running")

// Stale says whether the heartbeat's writer is taken for gone: its
// heartbeat is older than StaleAfter, or it was written on this host
// (hostname) by a process that no longer exists. It also says why.
func (h HeartbeatInfo) Stale(now time.Time, hostname string) (bool, string) {
	if age := now.Sub(h.Time); age > StaleAfter {
		return true, fmt.Sprintf("not refreshed for %s", age.Round(time.Minute))
	}
	if h.Hostname == hostname && h.PID > 0 && syscall.Kill(h.PID, 0) == syscall.ESRCH {
		return true, fmt.Sprintf("process %d is gone", h.PID)
	}
	return false, ""
}

func (h HeartbeatInfo) String() string {
	return fmt.Sprintf("%s of %s (pid %d, since %s, last heartbeat %s)", h.Operation, h.Hostname, h.PID,
		h.Start.Local().Format(time.DateTime), h.Time.Local().Format(time.DateTime))
}

// Heartbeats returns the latest heartbeat of every session in locks/,
// oldest first. A heartbeat file that cannot be read is reported through
// Warn and left out.
func (r *Repository) Heartbeats(ctx context.Context) ([]HeartbeatInfo, error) {
	all, _, err := r.loadHeartbeats(ctx)
	if err != nil {
		return nil, err
	}
	latest := latestPerSession(all)
	out := make([]HeartbeatInfo, 0, len(latest))
	for _, h := range latest {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b HeartbeatInfo) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// latestPerSession returns the newest heartbeat of each session.
func latestPerSession(all []HeartbeatInfo) map[string]HeartbeatInfo {
	latest := map[string]HeartbeatInfo{}
	for _, h := range all {
		if cur, ok := latest[h.Session]; !ok || h.Time.After(cur.Time) {
			latest[h.Session] = h
		}
	}
	return latest
}

// loadHeartbeats reads every heartbeat file; damaged ones are returned by
// ID.
func (r *Repository) loadHeartbeats(ctx context.Context) ([]HeartbeatInfo, []crypto.ID, error) {
	ids, err := r.ListFiles(ctx, backend.LockFile)
	if err != nil {
		return nil, nil, err
	}
	var out []HeartbeatInfo
	var damaged []crypto.ID
	for _, id := range ids {
		plain, err := r.LoadFile(ctx, backend.LockFile, crypto.KindLock, id)
		if errors.Is(err, backend.ErrNotExist) {
			continue // its writer refreshed or finished meanwhile
		}
		var h HeartbeatInfo
		if err == nil {
			err = json.Unmarshal(plain, &h)
		}
		if err == nil && h.Version != HeartbeatVersion {
			err = fmt.Errorf("heartbeat version %d not supported", h.Version)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			r.Warn(fmt.Sprintf("locks/%s cannot be read: %v ('arca unlock' removes it)", id.Short(), err))
			damaged = append(damaged, id)
			continue
		}
		h.ID = id
		out = append(out, h)
	}
	return out, damaged, nil
}

// RemoveStaleHeartbeats removes the heartbeats of writers that are gone
// (see Stale) and heartbeat files that cannot be read, and returns the
// sessions it removed. Heartbeats of running writers stay.
func (r *Repository) RemoveStaleHeartbeats(ctx context.Context, hostname string) ([]HeartbeatInfo, error) {
	all, damaged, err := r.loadHeartbeats(ctx)
	if err != nil {
		return nil, err
	}
	latest := latestPerSession(all)
	now := r.now()
	var removed []HeartbeatInfo
	for _, h := range all {
		if stale, _ := latest[h.Session].Stale(now, hostname); !stale {
			continue
		}
		if err := r.RemoveFile(ctx, backend.LockFile, h.ID); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return removed, err
		}
		if latest[h.Session].ID == h.ID {
			removed = append(removed, h)
		}
	}
	for _, id := range damaged {
		if err := r.RemoveFile(ctx, backend.LockFile, id); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return removed, err
		}
	}
	return removed, nil
}

// AnnounceOptions describe a writer.
type AnnounceOptions struct {
	Operation string
	Exclusive bool
	// Solo: no other writer of the same Operation may run at the same
	// time (prunes).
	Solo               bool
	Hostname, Username string
	// Interval overrides HeartbeatInterval (tests).
	Interval time.Duration
}

// Heartbeat is a running writer's announcement, refreshed in the
// background until Done.
type Heartbeat struct {
	r      *Repository
	info   HeartbeatInfo
	cancel context.CancelCauseFunc
	stop   chan struct{}
	wg     sync.WaitGroup

	mu sync.Mutex // guards info; info.ID is the heartbeat file written last
}

// ErrSilent is the cause of the context Announce returns when the writer
// could not refresh its heartbeat for too long.
var ErrSilent = errors.New("repo: the heartbeat could not be refreshed for 15 minutes; stopped before other hosts could take this writer for gone")

// Announce writes the heartbeat of a writer starting now and keeps it
// fresh until Done. The returned context is cancelled (with cause
// ErrSilent) if the heartbeat cannot be refreshed for too long; the
// writer must stop then. An exclusive writer starts only when no other
// writer's heartbeat is fresh, and no writer starts while an exclusive
// one's is (ErrBusy). Stale heartbeats of others are reported through
// Warn.
func (r *Repository) Announce(ctx context.Context, opts AnnounceOptions) (*Heartbeat, context.Context, error) {
	var sess [16]byte
	rand.Read(sess[:])
	now := r.now()
	h := &Heartbeat{r: r, stop: make(chan struct{}), info: HeartbeatInfo{
		Version: HeartbeatVersion, Session: hex.EncodeToString(sess[:]), Operation: opts.Operation,
		Exclusive: opts.Exclusive, Hostname: opts.Hostname, Username: opts.Username, PID: os.Getpid(),
		Start: now, Time: now,
	}}
	if err := h.write(ctx); err != nil {
		return nil, nil, err
	}
	// After the heartbeat, never before: a prune writes its candidate list
	// and then reads the heartbeats, so either it sees this writer (and
	// waits for it) or this writer sees its list.
	if err := r.ReadCandidates(ctx); err != nil {
		h.remove()
		return nil, nil, err
	}
	// And the index after the lists: a sweep finished before this writer
	// announced itself has superseded the index files of the packs it
	// deleted, which the cache must drop before anything deduplicates.
	if err := r.SyncIndex(ctx); err != nil {
		h.remove()
		return nil, nil, err
	}
	others, err := r.Heartbeats(ctx)
	if err != nil {
		h.remove()
		return nil, nil, err
	}
	for _, o := range others {
		if o.Session == h.info.Session {
			continue
		}
		stale, why := o.Stale(now, opts.Hostname)
		switch {
		case stale:
			r.sawStale.Store(true)
			r.Warn(fmt.Sprintf("a stale heartbeat in the repository: %s; %s (if that process is gone, 'arca unlock' removes it)", o, why))
		case opts.Exclusive || o.Exclusive || (opts.Solo && o.Operation == opts.Operation):
			h.remove()
			return nil, nil, fmt.Errorf("%w: %s", ErrBusy, o)
		}
	}
	interval := opts.Interval
	if interval <= 0 {
		interval = HeartbeatInterval
	}
	wctx, cancel := context.WithCancelCause(ctx)
	h.cancel = cancel
	h.wg.Go(func() { h.refresh(wctx, interval) })
	return h, wctx, nil
}

// Info returns the writer's heartbeat as last written.
func (h *Heartbeat) Info() HeartbeatInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.info
}

func (h *Heartbeat) write(ctx context.Context) error {
	h.mu.Lock()
	info := h.info
	h.mu.Unlock()
	plain, err := json.Marshal(info)
	if err != nil {
		return err
	}
	id, err := h.r.SaveFile(ctx, backend.LockFile, crypto.KindLock, plain)
	if err != nil {
		return fmt.Errorf("repo: write heartbeat: %w", err)
	}
	h.mu.Lock()
	prev := h.info.ID
	h.info.ID = id
	h.mu.Unlock()
	if !prev.IsNull() && prev != id {
		h.r.RemoveFile(context.WithoutCancel(ctx), backend.LockFile, prev) // best effort: a leftover is stale later
	}
	return nil
}

// refresh writes a new heartbeat every interval; after maxSilence without
// success it cancels the writer.
func (h *Heartbeat) refresh(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	lastOK := h.r.now()
	for {
		select {
		case <-h.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			h.mu.Lock()
			h.info.Time = h.r.now()
			h.mu.Unlock()
			if err := h.write(ctx); err != nil {
				if h.r.now().Sub(lastOK) >= maxSilence {
					h.cancel(ErrSilent)
					return
				}
				h.r.Warn(fmt.Sprintf("refreshing the heartbeat: %v (retrying)", err))
				continue
			}
			lastOK = h.r.now()
			if err := h.r.ReadCandidates(ctx); err != nil && ctx.Err() == nil {
				h.r.Warn(fmt.Sprintf("reading the candidate lists: %v", err))
			}
		}
	}
}

// Done stops refreshing and removes the heartbeat: the writer has
// finished.
func (h *Heartbeat) Done() error {
	close(h.stop)
	h.wg.Wait()
	if h.cancel != nil {
		h.cancel(nil)
	}
	return h.remove()
}

func (h *Heartbeat) remove() error {
	h.mu.Lock()
	id := h.info.ID
	h.mu.Unlock()
	if id.IsNull() {
		return nil
	}
	err := h.r.RemoveFile(context.Background(), backend.LockFile, id)
	if errors.Is(err, backend.ErrNotExist) {
		return nil
	}
	return err
}
