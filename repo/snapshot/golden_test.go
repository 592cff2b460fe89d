package snapshot

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/arcabackup/arca/crypto"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestSnapshotGolden pins the snapshot's JSON (docs/format.md).
func TestSnapshotGolden(t *testing.T) {
	parent, orig := crypto.Hash([]byte("parent")), crypto.Hash([]byte("original"))
	at := time.Date(2026, 11, 30, 10, 0, 0, 123, time.UTC)
	sn := &Snapshot{Version: Version, Time: at, Hostname: "host", Username: "ann", UID: 1000, GID: 1000,
		Paths: []string{"/home/ann"}, Tags: []string{"nightly"}, Excludes: []string{"*.tmp"}, Tree: crypto.Hash([]byte("tree")),
		Parent: &parent, Kind: KindIncremental, Program: "arca 1.0", Original: &orig, Replaces: &orig,
		Summary: &Summary{BackupStart: at, BackupEnd: at.Add(time.Second), FilesNew: 1, DataAdded: 10,
			Errors: []string{"/x: permission denied"}, ChangedWhileRead: []string{"/y"}}}
	got, err := json.Marshal(sn)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "snapshot.json")
	if *update {
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("snapshot encoding differs (a format change needs a new version; go test -update if intended):\n%s", got)
	}
	dec, err := Parse(want)
	if err != nil || !reflect.DeepEqual(dec, sn) {
		t.Errorf("Parse(golden) = %+v, %v", dec, err)
	}
}
