package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestInspectCommands drives snapshots --group-by/--latest, backup
// --dry-run/--time, tag, diff, find and stats through the binary.
func TestInspectCommands(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	os.MkdirAll(filepath.Join(src, "db"), 0o755)
	os.WriteFile(filepath.Join(src, "db", "shop.sql"), []byte(strings.Repeat("INSERT INTO orders VALUES (1);\n", 5000)), 0o644)
	os.WriteFile(filepath.Join(src, "notes.txt"), []byte("first"), 0o644)
	r := func(args ...string) string { return e.must(append([]string{"-r", repoDir}, args...)...).stdout }

	// A dry run writes nothing and reports what a backup would add.
	dry := lastSummaryMap(t, r("--json", "backup", "--dry-run", src))
	if dry["dry_run"] != true || dry["snapshot_id"] != nil || dry["data_added"].(float64) < 5000 {
		t.Errorf("dry run summary: %v", dry)
	}
	if n := len(e.snapshots(repoDir)); n != 0 {
		t.Fatalf("a dry run saved %d snapshots", n)
	}
	if n := countFiles(t, filepath.Join(repoDir, "data")); n != 0 {
		t.Fatalf("a dry run wrote %d packs", n)
	}

	r("backup", "--time", "2026-11-20 09:00", "--tag", "nightly", src)
	os.WriteFile(filepath.Join(src, "notes.txt"), []byte("second"), 0o644)
	r("backup", "--time", "2026-11-21 09:00", "--tag", "nightly", src)
	r("backup", "--time", "2026-11-21 10:00", "--host", "ci", src)
	list := e.snapshots(repoDir)
	if len(list) != 3 || !strings.HasPrefix(list[0]["time"].(string), "2026-11-20T09:00:00") {
		t.Fatalf("snapshots: %v", list)
	}
	id := func(i int) string { return list[i]["short_id"].(string) }

	var groups []struct {
		Key       map[string]any   `json:"group_key"`
		Snapshots []map[string]any `json:"snapshots"`
	}
	if err := json.Unmarshal([]byte(r("snapshots", "--json", "--group-by", "host")), &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || len(groups[0].Snapshots) != 2 || groups[1].Key["hostname"] != "ci" {
		t.Errorf("grouped by host: %+v", groups)
	}
	if out := r("snapshots", "--latest", "1"); !strings.Contains(out, "\n"+id(1)) || strings.Contains(out, "\n"+id(0)) || !strings.Contains(out, "\n"+id(2)) {
		t.Errorf("--latest 1:\n%s", out)
	}

	// diff: the notes changed, nothing else.
	out := r("diff", id(0), id(1))
	if !strings.Contains(out, "M    "+filepath.Join(src, "notes.txt")) || strings.Contains(out, "shop.sql") {
		t.Errorf("diff:\n%s", out)
	}
	if out := r("diff", id(0)+":"+src+"/db", id(1)+":"+src+"/db"); strings.Contains(out, "M ") {
		t.Errorf("diff of an unchanged subdirectory:\n%s", out)
	}

	// find: the dump is in every snapshot.
	var found []struct {
		Snapshot string           `json:"snapshot"`
		Hits     int              `json:"hits"`
		Matches  []map[string]any `json:"matches"`
	}
	if err := json.Unmarshal([]byte(r("find", "--json", "*.SQL", "-i")), &found); err != nil {
		t.Fatal(err)
	}
	if len(found) != 3 || found[0].Hits != 1 || found[0].Matches[0]["path"] != filepath.Join(src, "db", "shop.sql") {
		t.Errorf("find: %+v", found)
	}
	if out := r("find", "nothing-like-this"); !strings.Contains(out, "no matches") {
		t.Errorf("find without matches: %s", out)
	}

	// stats: three snapshots restore three times the data; stored once.
	var st map[string]any
	json.Unmarshal([]byte(r("stats", "--json", "--mode", "raw-data")), &st)
	if st["snapshots_count"].(float64) != 3 || st["deduplication_ratio"].(float64) < 2.5 {
		t.Errorf("raw-data stats: %v", st)
	}
	json.Unmarshal([]byte(r("stats", "--json", "latest")), &st)
	if st["snapshots_count"].(float64) != 1 || st["total_file_count"].(float64) != 2 {
		t.Errorf("restore-size of latest: %v", st)
	}

	// tag: retagging keeps the snapshot count and the contents.
	r("tag", "--add", "keep", "--remove", "nightly", "--tag", "nightly")
	after := e.snapshots(repoDir)
	if len(after) != 3 {
		t.Fatalf("%d snapshots after tagging", len(after))
	}
	for i, sn := range after[:2] {
		tags, _ := sn["tags"].([]any)
		if len(tags) != 1 || tags[0] != "keep" || sn["tree"] != list[i]["tree"] || sn["original"] != list[i]["id"] {
			t.Errorf("snapshot %d after tagging: %v", i, sn)
		}
	}
	r("tag", "--set", "", id(2))
	if res := e.run("-r", repoDir, "tag", "--set", "a", "--add", "b"); res.code != 1 || !strings.Contains(res.stderr, "cannot be combined") {
		t.Errorf("--set with --add: exit %d, %s", res.code, res.stderr)
	}
	var tagged []string
	for _, sn := range e.snapshots(repoDir) {
		if tags, ok := sn["tags"].([]any); ok {
			for _, tg := range tags {
				tagged = append(tagged, tg.(string))
			}
		}
	}
	if !slices.Equal(tagged, []string{"keep", "keep"}) {
		t.Errorf("tags now %q", tagged)
	}
}

func lastSummaryMap(t *testing.T, stdout string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout)
	}
	return m
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}
