package pack

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/arcabackup/arca/crypto"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with the hex in testdata/name (rewritten with
// -update) and returns the golden bytes.
func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, []byte(hex.EncodeToString(got)+"\n"), 0o644)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encoding differs from %s (a format change needs a new version; go test -update if intended):\n%x", path, got)
	}
	return want
}

// TestHeaderGolden pins the pack header encoding (docs/format.md).
func TestHeaderGolden(t *testing.T) {
	entries := []Entry{
		{Type: DataBlob, ID: crypto.Hash([]byte("a")), Offset: 0, Length: 100, RawLength: 60},
		{Type: TreeBlob, Flags: FlagZstd, ID: crypto.Hash([]byte("b")), Offset: 100, Length: 300, RawLength: 70000},
	}
	want := golden(t, "header.hex", EncodeHeader(nil, Version1, entries))
	got, err := DecodeHeader(want, 400)
	if err != nil || !reflect.DeepEqual(got, entries) {
		t.Errorf("decoding the golden header: %v, %v; want %v", got, err, entries)
	}
}

// TestHeaderGroupGolden pins the version 2 header, with a group.
func TestHeaderGroupGolden(t *testing.T) {
	entries := []Entry{
		{Type: DataBlob, ID: crypto.Hash([]byte("a")), Offset: 0, Length: 100, RawLength: 60},
		{Type: DataBlob, Flags: FlagZstd | FlagGroup, ID: crypto.Hash([]byte("b")), Offset: 100, Length: 300, RawLength: 700},
		{Type: DataBlob, Flags: FlagZstd | FlagGroup, ID: crypto.Hash([]byte("c")), Offset: 100, Length: 300, RawLength: 70, Inner: 700},
	}
	want := golden(t, "header-v2.hex", EncodeHeader(nil, Version, entries))
	got, err := DecodeHeader(want, 400)
	if err != nil || !reflect.DeepEqual(got, entries) {
		t.Errorf("decoding the golden header: %v, %v; want %v", got, err, entries)
	}
}
