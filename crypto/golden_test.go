package crypto

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenKey is a fixed master key for golden files.
var goldenKey = KeyFromBytes([32]byte{1, 2, 3}, [32]byte{4, 5, 6})

// TestKeyFileGolden pins the key file encoding (docs/format.md): the
// golden file parses, encodes to the same bytes, and opens with its
// password to the golden master key. (Its salt is random, so -update
// writes a new one.)
func TestKeyFileGolden(t *testing.T) {
	path := filepath.Join("testdata", "keyfile.json")
	if *update {
		kf, err := NewKeyFile(goldenKey, []byte("golden password"), KDFParams{Time: 1, Memory: 64, Threads: 1},
			"host", "user", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := kf.Marshal()
		os.WriteFile(path, b, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kf, err := ParseKeyFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := kf.Marshal(); !bytes.Equal(got, want) {
		t.Errorf("re-encoding the golden key file differs (a format change needs a new version):\n%s", got)
	}
	k, err := kf.Unlock([]byte("golden password"))
	if err != nil || k.BlobID([]byte("x")) != goldenKey.BlobID([]byte("x")) {
		t.Errorf("the golden key file does not open to the golden key: %v", err)
	}
}
