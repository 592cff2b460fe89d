// Package snapshot defines the snapshot record (docs/format.md,
// "Snapshots"), stores and lists snapshot files, and resolves the
// user's ways of naming a snapshot (ID, unique prefix, "latest").
package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"golang.org/x/sync/errgroup"
)

// Version is the snapshot format version.
const Version = 1

// Kinds of backup.
const (
	KindIncremental  = "incremental"
	KindDifferential = "differential"
	KindFull         = "full"
)

// Snapshot records one backup.
type Snapshot struct {
	Version  int       `json:"version"`
	Time     time.Time `json:"time"`
	Hostname string    `json:"hostname"`
	Username string    `json:"username,omitempty"`
	UID      uint32    `json:"uid,omitempty"`
	GID      uint32    `json:"gid,omitempty"`
	Paths    []string  `json:"paths"`
	Tags     []string  `json:"tags,omitempty"`
	// Excludes are the exclude patterns the backup was given (as restic
	// records them).
	Excludes []string   `json:"excludes,omitempty"`
	Tree     crypto.ID  `json:"tree"`
	Parent   *crypto.ID `json:"parent,omitempty"`
	Kind     string     `json:"kind,omitempty"`
	Program  string     `json:"program_version,omitempty"`
	// Original is the ID the snapshot had when its backup saved it, set
	// when a change such as new tags replaced its file.
	Original *crypto.ID `json:"original,omitempty"`
	// CopiedFrom is the origin (Original, or ID) of the snapshot in
	// another repository that `arca copy` made this one from.
	CopiedFrom *crypto.ID `json:"copied_from,omitempty"`
	// Replaces is the ID of the file this one replaced (set by Replace):
	// if an interruption left that file behind, readers hide it and the
	// next writer removes it.
	Replaces *crypto.ID `json:"replaces,omitempty"`
	// TagsAdded and TagsRemoved are the tag change that made this file
	// from the one it replaces. Two hosts that retag one snapshot at once
	// both replace the same file; readers merge such siblings by applying
	// each one's change (see List).
	TagsAdded   []string `json:"tags_added,omitempty"`
	TagsRemoved []string `json:"tags_removed,omitempty"`
	// Merges lists sibling files this one merged (and replaced) besides
	// Replaces.
	Merges  []crypto.ID `json:"merges,omitempty"`
	Summary *Summary    `json:"summary,omitempty"`

	ID crypto.ID `json:"-"` // set by Load and Save
	// Files are the snapshot files List merged into this snapshot (their
	// first is ID); empty for one file.
	Files []crypto.ID `json:"-"`
}

// Summary describes what a backup did.
type Summary struct {
	BackupStart         time.Time `json:"backup_start"`
	BackupEnd           time.Time `json:"backup_end"`
	FilesNew            int64     `json:"files_new"`
	FilesChanged        int64     `json:"files_changed"`
	FilesUnmodified     int64     `json:"files_unmodified"`
	DirsNew             int64     `json:"dirs_new"`
	DirsChanged         int64     `json:"dirs_changed"`
	DirsUnmodified      int64     `json:"dirs_unmodified"`
	DataBlobs           int64     `json:"data_blobs"`
	TreeBlobs           int64     `json:"tree_blobs"`
	DataAdded           int64     `json:"data_added"`        // plaintext bytes of new blobs
	DataAddedPacked     int64     `json:"data_added_packed"` // bytes uploaded to the repository
	TotalFilesProcessed int64     `json:"total_files_processed"`
	TotalBytesProcessed int64     `json:"total_bytes_processed"`
	BytesRead           int64     `json:"bytes_read"` // file content actually read
	Errors              []string  `json:"errors,omitempty"`
	// ChangedWhileRead lists files whose size or mtime changed while
	// they were read: their stored content may mix old and new data.
	ChangedWhileRead []string `json:"changed_while_read,omitempty"`
}

// Duration returns the backup's wall time.
func (s *Summary) Duration() time.Duration { return s.BackupEnd.Sub(s.BackupStart) }

// Save stores sn and sets its ID.
func Save(ctx context.Context, r *repo.Repository, sn *Snapshot) (crypto.ID, error) {
	sn.Version = Version
	b, err := json.Marshal(sn)
	if err != nil {
		return crypto.ID{}, err
	}
	id, err := r.SaveFile(ctx, backend.SnapshotFile, crypto.KindSnapshot, b)
	if err != nil {
		return crypto.ID{}, err
	}
	sn.ID = id
	return id, nil
}

// Parse decodes a snapshot's plaintext.
func Parse(b []byte) (*Snapshot, error) {
	var sn Snapshot
	if err := json.Unmarshal(b, &sn); err != nil {
		return nil, fmt.Errorf("snapshot: %w: %v", repo.ErrCorrupt, err)
	}
	if sn.Version != Version {
		return nil, fmt.Errorf("%w: version %d (this arca reads %d; written by a newer one?)", errFormat, sn.Version, Version)
	}
	if sn.Tree.IsNull() {
		return nil, fmt.Errorf("snapshot: %w: no tree", repo.ErrCorrupt)
	}
	return &sn, nil
}

// Load reads snapshot id.
func Load(ctx context.Context, r *repo.Repository, id crypto.ID) (*Snapshot, error) {
	b, err := r.LoadFile(ctx, backend.SnapshotFile, crypto.KindSnapshot, id)
	if err != nil {
		return nil, err
	}
	sn, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", id.Short(), err)
	}
	sn.ID = id
	return sn, nil
}

// List loads all snapshots, oldest first. A snapshot file that cannot be
// read or decoded is reported through the repository's Damage and left
// out; one removed while listing is left out silently; one that another
// file replaced (an interrupted Replace left both) is left out too.
func List(ctx context.Context, r *repo.Repository) ([]*Snapshot, error) {
	list, _, err := load(ctx, r)
	return list, err
}

// Remove removes snapshot sn's file (its files, when List merged
// several).
func Remove(ctx context.Context, r *repo.Repository, sn *Snapshot) error {
	for _, id := range sn.files() {
		if err := r.RemoveFile(ctx, backend.SnapshotFile, id); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return fmt.Errorf("snapshot %s: %w", id.Short(), err)
		}
	}
	return nil
}

func (sn *Snapshot) files() []crypto.ID {
	if len(sn.Files) > 0 {
		return sn.Files
	}
	return []crypto.ID{sn.ID}
}

// Tidy removes the files of snapshots that another snapshot file replaced,
// which an interrupted Replace leaves behind, and replaces the sibling
// files of a snapshot that two hosts retagged at once by one merged file.
// Writers that change snapshots call it.
func Tidy(ctx context.Context, r *repo.Repository) error {
	list, replaced, err := load(ctx, r)
	if err != nil {
		return err
	}
	for _, id := range replaced {
		if err := r.RemoveFile(ctx, backend.SnapshotFile, id); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return fmt.Errorf("snapshot %s: remove the replaced file: %w", id.Short(), err)
		}
	}
	for _, sn := range list {
		if len(sn.Files) > 1 {
			sn.TagsAdded, sn.TagsRemoved = nil, nil
			if err := Replace(ctx, r, sn); err != nil {
				return err
			}
		}
	}
	return nil
}

// load reads every snapshot file; it returns the snapshots to show and the
// IDs of the files that others replaced.
func load(ctx context.Context, r *repo.Repository) ([]*Snapshot, []crypto.ID, error) {
	ids, err := r.ListFiles(ctx, backend.SnapshotFile)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	out := make([]*Snapshot, 0, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range ids {
		g.Go(func() error {
			sn, err := Load(gctx, r, id)
			switch {
			case errors.Is(err, backend.ErrNotExist):
				return nil // removed meanwhile (tag, forget)
			case err != nil && gctx.Err() == nil && !isTransient(err):
				r.Damage("snapshots/"+id.String(), fmt.Errorf("%w; this snapshot is left out", err))
				return nil
			case err != nil:
				return err
			}
			mu.Lock()
			out = append(out, sn)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	// A file is replaced when another names it in Replaces, or when it is
	// the snapshot's first file (no Original) and a replacement names it
	// as Original (the replacements between them may be gone).
	gone := map[crypto.ID]bool{}
	for _, sn := range out {
		if sn.Replaces != nil && *sn.Replaces != sn.ID {
			gone[*sn.Replaces] = true
		}
		if sn.Original != nil && *sn.Original != sn.ID {
			gone[*sn.Original] = true
		}
		for _, id := range sn.Merges {
			if id != sn.ID {
				gone[id] = true
			}
		}
	}
	var replaced []crypto.ID
	out = slices.DeleteFunc(out, func(sn *Snapshot) bool {
		if gone[sn.ID] {
			replaced = append(replaced, sn.ID)
		}
		return gone[sn.ID]
	})
	out = mergeSiblings(out)
	slices.SortFunc(out, func(a, b *Snapshot) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID.String(), b.ID.String())
	})
	return out, replaced, nil
}

// isTransient reports whether a load error may go away when tried again
// (an I/O or network error) rather than being about the file's content.
func isTransient(err error) bool {
	return !errors.Is(err, repo.ErrCorrupt) && !errors.Is(err, errFormat)
}

// errFormat is wrapped by errors about a snapshot's content that is not
// corrupt but cannot be understood (a version this arca does not know).
var errFormat = errors.New("snapshot: unsupported format")

// ErrNotFound is returned when no snapshot matches.
var ErrNotFound = errors.New("snapshot: no matching snapshot")

// ErrAmbiguous is returned when a prefix matches several snapshots.
var ErrAmbiguous = errors.New("snapshot: prefix matches several snapshots")

// Find resolves ref among list: "latest", a full ID or a unique prefix,
// also of an ID a snapshot had before its file was replaced.
func Find(list []*Snapshot, ref string) (*Snapshot, error) {
	if ref == "" {
		return nil, fmt.Errorf("%w: empty snapshot name", ErrNotFound)
	}
	if ref == "latest" {
		if len(list) == 0 {
			return nil, fmt.Errorf("%w: the repository has no snapshots", ErrNotFound)
		}
		return list[len(list)-1], nil
	}
	ref = strings.ToLower(ref)
	var found *Snapshot
	for _, sn := range list {
		if strings.HasPrefix(sn.ID.String(), ref) {
			if found != nil {
				return nil, fmt.Errorf("%w: %q", ErrAmbiguous, ref)
			}
			found = sn
		}
	}
	if found == nil {
		// An ID the snapshot had before its file was replaced (tag).
		for _, sn := range list {
			if sn.Original != nil && strings.HasPrefix(sn.Original.String(), ref) {
				if found != nil && found.Original != nil && *found.Original != *sn.Original {
					return nil, fmt.Errorf("%w: %q", ErrAmbiguous, ref)
				}
				found = sn
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, ref)
	}
	return found, nil
}

// Current returns the ID under which the snapshot once called id is
// stored now (id itself if no replacement names it as its original).
func Current(list []*Snapshot, id crypto.ID) crypto.ID {
	for _, sn := range list {
		if sn.Original != nil && *sn.Original == id {
			return sn.ID
		}
	}
	return id
}

// Filter selects snapshots by host, tags and paths.
type Filter struct {
	Hosts []string
	// Tags: a snapshot matches if it has every tag of at least one of the
	// lists (restic's --tag a,b --tag c: a and b, or c).
	Tags  [][]string
	Paths []string // a snapshot matches if its paths equal these (as a set)
}

// Match reports whether sn passes f.
func (f Filter) Match(sn *Snapshot) bool {
	if len(f.Hosts) > 0 && !slices.Contains(f.Hosts, sn.Hostname) {
		return false
	}
	if len(f.Tags) > 0 && !slices.ContainsFunc(f.Tags, func(tags []string) bool { return hasTags(sn, tags) }) {
		return false
	}
	if len(f.Paths) > 0 {
		a, b := slices.Clone(f.Paths), slices.Clone(sn.Paths)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(slices.Compact(a), slices.Compact(b)) {
			return false
		}
	}
	return true
}

// Select returns the snapshots in list that f matches.
func (f Filter) Select(list []*Snapshot) []*Snapshot {
	var out []*Snapshot
	for _, sn := range list {
		if f.Match(sn) {
			out = append(out, sn)
		}
	}
	return out
}
