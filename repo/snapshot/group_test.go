package snapshot_test

import (
	"slices"
	"testing"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/snapshot"
)

func mk(host string, paths, tags []string, minute int) *snapshot.Snapshot {
	return &snapshot.Snapshot{Hostname: host, Paths: paths, Tags: tags,
		Time: time.Date(2026, 11, 24, 12, minute, 0, 0, time.UTC)}
}

func TestGroupAndLatest(t *testing.T) {
	a1 := mk("a", []string{"/home"}, nil, 1)
	b1 := mk("b", []string{"/home"}, []string{"x"}, 2)
	a2 := mk("a", []string{"/home"}, []string{"x"}, 3)
	a3 := mk("a", []string{"/etc"}, nil, 4)
	a4 := mk("a", []string{"/home"}, nil, 5)
	list := []*snapshot.Snapshot{a1, b1, a2, a3, a4}

	g, err := snapshot.ParseGroupBy("host,paths")
	if err != nil {
		t.Fatal(err)
	}
	groups := snapshot.GroupSnapshots(list, g)
	want := [][]*snapshot.Snapshot{{a1, a2, a4}, {b1}, {a3}}
	if len(groups) != len(want) {
		t.Fatalf("%d groups; want %d", len(groups), len(want))
	}
	for i, grp := range groups {
		if !slices.Equal(grp.Snapshots, want[i]) {
			t.Errorf("group %d (%s): %d snapshots", i, grp.Key, len(grp.Snapshots))
		}
	}
	if got := snapshot.GroupSnapshots(list, snapshot.GroupBy{Tags: true}); len(got) != 2 || len(got[0].Snapshots) != 3 {
		t.Errorf("group by tags: %d groups", len(got))
	}
	if got := snapshot.Latest(list, snapshot.GroupBy{}, 1); !slices.Equal(got, []*snapshot.Snapshot{b1, a3, a4}) {
		t.Errorf("latest 1 per host and paths: %v", got)
	}
	if got := snapshot.Latest(list, snapshot.GroupBy{Host: true}, 2); !slices.Equal(got, []*snapshot.Snapshot{b1, a3, a4}) {
		t.Errorf("latest 2 per host: %v", got)
	}
	if _, err := snapshot.ParseGroupBy("host,color"); err == nil {
		t.Error("ParseGroupBy accepted color")
	}
}

func TestRetagReplace(t *testing.T) {
	r := repotest.New(t)
	sn := mk("h", []string{"/p"}, []string{"b", "a"}, 0)
	sn.Tree = crypto.Hash([]byte("tree"))
	first, err := snapshot.Save(t.Context(), r, sn)
	if err != nil {
		t.Fatal(err)
	}
	if sn.Retag(nil, []string{"a"}, nil) {
		t.Error("adding a present tag changed the tags")
	}
	if !sn.Retag(nil, []string{"c"}, []string{"a"}) || !slices.Equal(sn.Tags, []string{"b", "c"}) {
		t.Errorf("tags %q; want [b c]", sn.Tags)
	}
	if err := snapshot.Replace(t.Context(), r, sn); err != nil {
		t.Fatal(err)
	}
	if !sn.Retag([]string{"z"}, nil, nil) || !slices.Equal(sn.Tags, []string{"z"}) {
		t.Errorf("set: tags %q", sn.Tags)
	}
	if err := snapshot.Replace(t.Context(), r, sn); err != nil {
		t.Fatal(err)
	}
	list, err := snapshot.List(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID == first || *list[0].Original != first || !slices.Equal(list[0].Tags, []string{"z"}) {
		t.Fatalf("after retagging: %d snapshots, original %v, tags %q", len(list), list[0].Original, list[0].Tags)
	}
	// The first ID still finds the snapshot, and maps to its new one.
	if sn, err := snapshot.Find(list, first.String()[:8]); err != nil || sn != list[0] {
		t.Errorf("Find by the original ID: %v, %v", sn, err)
	}
	if got := snapshot.Current(list, first); got != list[0].ID {
		t.Errorf("Current(original) = %s; want %s", got.Short(), list[0].ID.Short())
	}
}
