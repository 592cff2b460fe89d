package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
)

// GroupBy says which fields put snapshots in the same group.
type GroupBy struct {
	Host, Paths, Tags bool
}

// ParseGroupBy reads a comma-separated list of host, paths and tags; ""
// groups nothing.
func ParseGroupBy(s string) (GroupBy, error) {
	var g GroupBy
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "":
		case "host", "hosts":
			g.Host = true
		case "path", "paths":
			g.Paths = true
		case "tag", "tags":
			g.Tags = true
		default:
			return g, fmt.Errorf("snapshot: cannot group by %q: want host, paths or tags", f)
		}
	}
	return g, nil
}

// IsZero reports whether g groups nothing (all snapshots in one group).
func (g GroupBy) IsZero() bool { return g == GroupBy{} }

// GroupKey is what the snapshots of a group share; fields not grouped by
// are empty, and null in JSON (as restic).
type GroupKey struct {
	Hostname string   `json:"-"`
	Paths    []string `json:"paths"`
	Tags     []string `json:"tags"`
}

// MarshalJSON writes all three fields, null for those not grouped by.
func (k GroupKey) MarshalJSON() ([]byte, error) {
	var host *string
	if k.Hostname != "" {
		host = &k.Hostname
	}
	return json.Marshal(struct {
		Hostname *string  `json:"hostname"`
		Paths    []string `json:"paths"`
		Tags     []string `json:"tags"`
	}{host, k.Paths, k.Tags})
}

func (k GroupKey) String() string {
	var parts []string
	if k.Hostname != "" {
		parts = append(parts, "host "+k.Hostname)
	}
	if k.Paths != nil {
		parts = append(parts, "paths ["+strings.Join(k.Paths, ", ")+"]")
	}
	if k.Tags != nil {
		parts = append(parts, "tags ["+strings.Join(k.Tags, ", ")+"]")
	}
	return strings.Join(parts, ", ")
}

// Key returns the group key of sn under g.
func (g GroupBy) Key(sn *Snapshot) GroupKey {
	var k GroupKey
	if g.Host {
		k.Hostname = sn.Hostname
	}
	if g.Paths {
		k.Paths = sortedSet(sn.Paths)
	}
	if g.Tags {
		k.Tags = sortedSet(sn.Tags)
	}
	return k
}

func sortedSet(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// Group is one group of snapshots, oldest first.
type Group struct {
	Key       GroupKey
	Snapshots []*Snapshot
}

// GroupSnapshots splits list (oldest first) into groups, in the order of
// each group's first snapshot.
func GroupSnapshots(list []*Snapshot, g GroupBy) []Group {
	var out []Group
	pos := map[string]int{}
	for _, sn := range list {
		k := g.Key(sn)
		s := fmt.Sprintf("%q|%q|%q", k.Hostname, k.Paths, k.Tags)
		i, ok := pos[s]
		if !ok {
			i = len(out)
			pos[s] = i
			out = append(out, Group{Key: k})
		}
		out[i].Snapshots = append(out[i].Snapshots, sn)
	}
	return out
}

// Latest keeps the newest n snapshots of each group of list (by host and
// paths when g groups nothing, as restic does), oldest first.
func Latest(list []*Snapshot, g GroupBy, n int) []*Snapshot {
	if g.IsZero() {
		g = GroupBy{Host: true, Paths: true}
	}
	keep := map[*Snapshot]bool{}
	for _, grp := range GroupSnapshots(list, g) {
		for _, sn := range grp.Snapshots[max(0, len(grp.Snapshots)-n):] {
			keep[sn] = true
		}
	}
	var out []*Snapshot
	for _, sn := range list {
		if keep[sn] {
			out = append(out, sn)
		}
	}
	return out
}

// Replace saves sn as a new snapshot file in place of its current one, for
// changes such as tags: the new file records the first ID the snapshot had
// as Original and the file it replaces as Replaces. The new file is saved
// before the old one is removed, so an interruption leaves both, never
// neither; List then shows only the new one, and Tidy removes the old.
//
// A snapshot that List merged from several files is saved as one file that
// names the others in Merges, and all are removed. A replaced file that is
// gone already (another host replaced it at the same time) is no error:
// List merges the two replacements.
func Replace(ctx context.Context, r *repo.Repository, sn *Snapshot) error {
	old := sn.ID
	files := sn.files()
	if sn.Original == nil {
		o := old
		sn.Original = &o
	}
	sn.Replaces = &old
	sn.Merges = nil
	for _, id := range files {
		if id != old {
			sn.Merges = append(sn.Merges, id)
		}
	}
	sn.Files = nil
	if _, err := Save(ctx, r, sn); err != nil {
		return err
	}
	for _, id := range files {
		if id == sn.ID {
			continue
		}
		if err := r.RemoveFile(ctx, backend.SnapshotFile, id); err != nil && !errors.Is(err, backend.ErrNotExist) {
			return fmt.Errorf("snapshot %s: remove the replaced file: %w", id.Short(), err)
		}
	}
	return nil
}

// Retag applies tag changes: set (if not nil) replaces all tags, then add
// and remove. It reports whether the tags changed.
func (sn *Snapshot) Retag(set, add, remove []string) bool {
	before := slices.Clone(sn.Tags)
	tags := slices.Clone(sn.Tags)
	if set != nil {
		tags = slices.Clone(set)
	}
	tags = applyTagChange(tags, add, remove)
	b := slices.Clone(before)
	slices.Sort(b)
	sn.Tags = tags
	// The change, for readers that merge concurrent retags.
	sn.TagsAdded, sn.TagsRemoved = nil, nil
	for _, t := range tags {
		if !slices.Contains(b, t) {
			sn.TagsAdded = append(sn.TagsAdded, t)
		}
	}
	for _, t := range b {
		if !slices.Contains(tags, t) {
			sn.TagsRemoved = append(sn.TagsRemoved, t)
		}
	}
	return !slices.Equal(b, tags)
}

// applyTagChange adds and removes tags (tags may be modified), and returns
// them sorted, without duplicates or empty tags; nil for none. Retag and
// the merge of concurrent retags (mergeSiblings) share it.
func applyTagChange(tags, add, remove []string) []string {
	for _, t := range add {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	tags = slices.DeleteFunc(tags, func(t string) bool { return t == "" || slices.Contains(remove, t) })
	slices.Sort(tags)
	tags = slices.Compact(tags)
	if len(tags) == 0 {
		return nil
	}
	return tags
}

// mergeSiblings merges the files of one snapshot (the same Original) that
// concurrent retags left, none replacing another, into one snapshot: the
// file with the smallest ID, with every sibling's tag change applied in ID
// order, so that every reader sees the same tags (two hosts adding a tag
// each end with both).
func mergeSiblings(list []*Snapshot) []*Snapshot {
	groups := map[crypto.ID][]*Snapshot{}
	for _, sn := range list {
		k := sn.ID
		if sn.Original != nil {
			k = *sn.Original
		}
		groups[k] = append(groups[k], sn)
	}
	var out []*Snapshot
	for _, sn := range list {
		k := sn.ID
		if sn.Original != nil {
			k = *sn.Original
		}
		g := groups[k]
		switch {
		case len(g) == 1:
			out = append(out, sn)
			continue
		case g[0] != sn:
			continue // merged with the group's first
		}
		g = slices.Clone(g)
		slices.SortFunc(g, func(a, b *Snapshot) int { return strings.Compare(a.ID.String(), b.ID.String()) })
		m := *g[0]
		tags := slices.Clone(m.Tags)
		for _, o := range g[1:] {
			tags = applyTagChange(tags, o.TagsAdded, o.TagsRemoved)
		}
		m.Tags = tags
		for _, o := range g {
			m.Files = append(m.Files, o.ID)
		}
		out = append(out, &m)
	}
	return out
}
