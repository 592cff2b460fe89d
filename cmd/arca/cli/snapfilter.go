package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/spf13/pflag"
)

// snapFilterFlags are the --host, --tag and --path filters commands that
// work on several snapshots share.
type snapFilterFlags struct {
	f snapshot.Filter
}

func (s *snapFilterFlags) register(f *pflag.FlagSet) {
	f.StringArrayVar(&s.f.Hosts, "host", nil, "only snapshots of this host (repeatable: any of them)")
	f.Var((*tagLists)(&s.f.Tags), "tag", "only snapshots with these `tags` (a,b: both; repeatable: any of the lists)")
	f.StringArrayVar(&s.f.Paths, "path", nil, "only snapshots of exactly these paths (repeatable)")
}

// tagLists is the --tag filter: each use adds a list of tags a snapshot
// must all have, "a,b" being one list; a snapshot passes if one list fits.
type tagLists [][]string

func (t *tagLists) String() string {
	var parts []string
	for _, l := range *t {
		parts = append(parts, strings.Join(l, ","))
	}
	return strings.Join(parts, " ")
}

func (t *tagLists) Set(v string) error {
	if l := splitTags([]string{v}); len(l) > 0 {
		*t = append(*t, l)
	}
	return nil
}

func (t *tagLists) Type() string { return "tags" }

// splitTags splits every value on commas, as restic does, and drops empty
// tags.
func splitTags(values []string) []string {
	var out []string
	for _, v := range values {
		for _, tag := range strings.Split(v, ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				out = append(out, tag)
			}
		}
	}
	return out
}

// selectSnapshots returns the snapshots named by refs (IDs, prefixes or
// "latest", which is the latest passing the filters), or all that pass the
// filters when refs is empty; oldest first.
func (s *snapFilterFlags) selectSnapshots(ctx context.Context, r *repo.Repository, refs []string) ([]*snapshot.Snapshot, error) {
	list, err := snapshot.List(ctx, r)
	if err != nil {
		return nil, err
	}
	return s.selectFrom(list, refs)
}

// selectFrom is selectSnapshots on a list already loaded.
func (s *snapFilterFlags) selectFrom(list []*snapshot.Snapshot, refs []string) ([]*snapshot.Snapshot, error) {
	filtered := s.f.Select(list)
	if len(refs) == 0 {
		return filtered, nil
	}
	var out []*snapshot.Snapshot
	seen := map[*snapshot.Snapshot]bool{}
	for _, ref := range refs {
		from := list
		if ref == "latest" {
			from = filtered
		}
		sn, err := snapshot.Find(from, ref)
		if err != nil {
			return nil, err
		}
		if !seen[sn] {
			seen[sn] = true
			out = append(out, sn)
		}
	}
	return out, nil
}

func shortIDs(list []*snapshot.Snapshot) string {
	if len(list) == 1 {
		return "snapshot " + list[0].ID.Short()
	}
	return fmt.Sprintf("%d snapshots", len(list))
}
