package index

import (
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestFileGolden pins the index file encoding (docs/format.md).
func TestFileGolden(t *testing.T) {
	f := &File{Packs: []Pack{
		{ID: crypto.Hash([]byte("pack 1")), Size: 500, Entries: []pack.Entry{
			{Type: pack.DataBlob, ID: crypto.Hash([]byte("a")), Offset: 0, Length: 100, RawLength: 60},
			{Type: pack.DataBlob, Flags: pack.FlagZstd, ID: crypto.Hash([]byte("b")), Offset: 100, Length: 200, RawLength: 9000},
		}},
		{ID: crypto.Hash([]byte("pack 2")), Size: 300, Entries: []pack.Entry{
			{Type: pack.TreeBlob, ID: crypto.Hash([]byte("c")), Offset: 0, Length: 120, RawLength: 80},
		}},
	}}
	checkGolden(t, f, filepath.Join("testdata", "index.hex"))
	// Version 2: the same packs, superseding two files.
	f.Supersedes = []crypto.ID{crypto.Hash([]byte("index 1")), crypto.Hash([]byte("index 2"))}
	checkGolden(t, f, filepath.Join("testdata", "index-v2.hex"))
}

func checkGolden(t *testing.T, f *File, path string) {
	t.Helper()
	got := f.Encode(nil)
	if *update {
		os.WriteFile(path, []byte(hex.EncodeToString(got)+"\n"), 0o644)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(strings.TrimSpace(string(text)))
	if string(got) != string(want) {
		t.Errorf("encoding differs from %s (a format change needs a new version; go test -update if intended):\n%x", path, got)
	}
	dec, err := Decode(want)
	if err != nil || !reflect.DeepEqual(dec, f) {
		t.Errorf("decoding the golden file: %+v, %v", dec, err)
	}
}
