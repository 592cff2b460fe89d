package backup

import (
	"testing"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo/snapshot"
)

func TestChooseParent(t *testing.T) {
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	mk := func(i int, host, kind string, parent bool, paths ...string) *snapshot.Snapshot {
		sn := &snapshot.Snapshot{Time: base.Add(time.Duration(i) * time.Hour), Hostname: host, Kind: kind, Paths: paths}
		sn.ID = crypto.Hash([]byte{byte(i)})
		if parent {
			p := crypto.Hash([]byte{byte(i - 1)})
			sn.Parent = &p
		}
		return sn
	}
	list := []*snapshot.Snapshot{
		mk(0, "a", "full", false, "/d"),             // first: full
		mk(1, "a", "incremental", true, "/d"),       // incremental on 0
		mk(2, "b", "incremental", false, "/d"),      // other host, parentless: full
		mk(3, "a", "differential", true, "/d"),      // differential on 0
		mk(4, "a", "incremental", true, "/d", "/e"), // other paths
		mk(5, "a", "incremental", true, "/d"),       // latest incremental of a:/d
	}
	cases := []struct {
		kind, host string
		paths      []string
		want       int // index in list, -1 for none
	}{
		{"incremental", "a", []string{"/d"}, 5},
		{"", "a", []string{"/d"}, 5},
		{"differential", "a", []string{"/d"}, 0},
		{"full", "a", []string{"/d"}, -1},
		{"incremental", "b", []string{"/d"}, 2},
		{"differential", "b", []string{"/d"}, 2},
		{"incremental", "a", []string{"/d", "/e"}, 4},
		{"differential", "a", []string{"/d", "/e"}, -1},
		{"incremental", "c", []string{"/d"}, -1},
	}
	for _, c := range cases {
		got, err := ChooseParent(list, c.kind, c.host, c.paths)
		if err != nil {
			t.Fatal(err)
		}
		want := (*snapshot.Snapshot)(nil)
		if c.want >= 0 {
			want = list[c.want]
		}
		if got != want {
			t.Errorf("%s %s %v: parent %v; want %v", c.kind, c.host, c.paths, got, want)
		}
	}
	if _, err := ChooseParent(list, "weekly", "a", nil); err == nil {
		t.Error("unknown kind accepted")
	}
	if k := RecordedKind("incremental", nil); k != "full" {
		t.Errorf("parentless incremental recorded as %q; want full", k)
	}
	if k := RecordedKind("differential", list[0]); k != "differential" {
		t.Errorf("recorded %q", k)
	}
}
