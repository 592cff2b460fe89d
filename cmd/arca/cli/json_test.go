package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/snapshot"
)

var update = flag.Bool("update", false, "rewrite golden files")

// shape describes a JSON value by its keys and their JSON types, so the
// golden file pins what tools may rely on without pinning values.
func shape(v any) string {
	b, _ := json.Marshal(v)
	var m any
	json.Unmarshal(b, &m)
	return describe(m, "")
}

func describe(v any, indent string) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var sb strings.Builder
		sb.WriteString("{\n")
		for _, k := range keys {
			fmt.Fprintf(&sb, "%s  %s: %s\n", indent, k, describe(x[k], indent+"  "))
		}
		sb.WriteString(indent + "}")
		return sb.String()
	case []any:
		if len(x) == 0 {
			return "[]"
		}
		return "[" + describe(x[0], indent) + "]"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return "?"
}

func TestJSONShapes(t *testing.T) {
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: &out, json: true}
	parent := crypto.Hash([]byte("p"))
	sn := &snapshot.Snapshot{
		Version: 1, Time: time.Unix(1, 0).UTC(), Hostname: "h", Username: "u", Paths: []string{"/p"}, Tags: []string{"t"},
		Tree: crypto.Hash([]byte("t")), Parent: &parent, Kind: "incremental", Program: "arca",
		Summary: &snapshot.Summary{Errors: []string{"/x: permission denied"}}, ID: crypto.Hash([]byte("s")),
	}
	prog := &backup.Progress{}
	prog.ScanDone.Store(true)
	prog.TotalBytes.Store(10)
	a.printBackupSummary(sn, false)
	summary := out.String()
	var shapes strings.Builder
	for _, c := range []struct {
		name string
		v    any
	}{
		{"backup status", backupView{prog}.status(time.Second)},
		{"backup summary", json.RawMessage(summary)},
		{"snapshots", []snapshotJSON{{sn, sn.ID.String(), sn.ID.Short()}}},
	} {
		fmt.Fprintf(&shapes, "%s: %s\n", c.name, shape(c.v))
	}
	out.Reset()
	code := Main(context.Background(), []string{"--json", "-r", filepath.Join(t.TempDir(), "none"), "snapshots"}, nil, &out, &out)
	fmt.Fprintf(&shapes, "error (exit %d): %s\n", code, shape(json.RawMessage(out.String())))

	path := filepath.Join("testdata", "json-shapes.golden")
	if *update {
		os.WriteFile(path, []byte(shapes.String()), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if shapes.String() != string(want) {
		t.Errorf("JSON shapes changed (go test -update if intended):\n%s", shapes.String())
	}
}
