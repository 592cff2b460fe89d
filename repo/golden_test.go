package repo_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/restic/chunker"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenKey is a fixed master key for golden files and the fuzz corpus.
var goldenKey = crypto.KeyFromBytes([32]byte{1, 2, 3}, [32]byte{4, 5, 6})

func goldenConfig() repo.Config {
	return repo.Config{Version: 1, ID: crypto.Hash([]byte("repo")), ChunkerPolynomial: chunker.Pol(0x3da3358b4dc173),
		ChunkMin: 512 << 10, ChunkAvgBits: 20, ChunkMax: 8 << 20, Compression: pack.CompressionAuto, PackSize: 16 << 20}
}

func readGolden(t *testing.T, name string, got []byte, hexed bool) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		out := got
		if hexed {
			out = []byte(hex.EncodeToString(got) + "\n")
		}
		os.WriteFile(path, out, 0o644)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if hexed {
		if b, err = hex.DecodeString(strings.TrimSpace(string(b))); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestConfigGolden pins the config's JSON (docs/format.md).
func TestConfigGolden(t *testing.T) {
	got := []byte(repo.EncodeConfig(goldenConfig()))
	want := readGolden(t, "config.json", got, false)
	if !bytes.Equal(got, want) {
		t.Errorf("config encoding differs (a format change needs a new version; go test -update if intended):\n%s", got)
	}
	if c, err := repo.ParseConfig(want); err != nil || c != goldenConfig() {
		t.Errorf("ParseConfig(golden) = %+v, %v", c, err)
	}
}

// TestSealedFileGolden pins the sealed-file framing: golden files sealed
// with a fixed key (uncompressed and zstd-compressed payloads) open to
// their plaintext, and start with the documented header. Nonces are
// random, so -update writes new ones.
func TestSealedFileGolden(t *testing.T) {
	for _, c := range []struct {
		name  string
		kind  crypto.Kind
		plain []byte
		flag  byte
	}{
		{"sealed-config.hex", crypto.KindConfig, []byte(repo.EncodeConfig(goldenConfig())), 0},
		{"sealed-index.hex", crypto.KindIndex, bytes.Repeat([]byte("compressible index payload "), 40), 1},
	} {
		sealed, err := repo.SealFile(goldenKey, c.kind, c.plain)
		if err != nil {
			t.Fatal(err)
		}
		want := readGolden(t, c.name, sealed, true)
		if !bytes.Equal(want[:6], append([]byte("ARCA"), 1, byte(c.kind))) {
			t.Errorf("%s: header %x; want ARCA, version 1, kind %d", c.name, want[:6], c.kind)
		}
		got, err := repo.OpenFile(goldenKey, c.kind, want)
		if err != nil || !bytes.Equal(got, c.plain) {
			t.Errorf("%s does not open to its plaintext: %v", c.name, err)
		}
		inner, err := goldenKey.Open(nil, want[6:], crypto.AD(nil, c.kind, nil))
		if err != nil || inner[0] != c.flag {
			t.Errorf("%s: flags %v, %v; want %d", c.name, inner[:1], err, c.flag)
		}
	}
}

// TestConfigV2Golden pins the configs of format versions 2 and 3.
func TestConfigV2Golden(t *testing.T) {
	for _, v := range []struct {
		version int
		file    string
	}{{repo.ConfigVersion2, "config-v2.json"}, {repo.ConfigVersion, "config-v3.json"}} {
		c := goldenConfig()
		c.Version = v.version
		got := []byte(repo.EncodeConfig(c))
		want := readGolden(t, v.file, got, false)
		if !bytes.Equal(got, want) {
			t.Errorf("config encoding differs (a format change needs a new version; go test -update if intended):\n%s", got)
		}
		if p, err := repo.ParseConfig(want); err != nil || p != c {
			t.Errorf("ParseConfig(golden) = %+v, %v", p, err)
		}
	}
}

func goldenCandidates() repo.CandidateList {
	return repo.CandidateList{Version: repo.CandidateListVersion, Session: "00112233445566778899aabbccddeeff",
		Marked: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), Complete: true,
		Writers: []string{"ffeeddccbbaa99887766554433221100"},
		Packs:   []crypto.ID{crypto.Hash([]byte("pack 1")), crypto.Hash([]byte("pack 2"))}}
}

// TestCandidateListGolden pins the candidate list's JSON (docs/format.md).
func TestCandidateListGolden(t *testing.T) {
	got, err := json.Marshal(goldenCandidates())
	if err != nil {
		t.Fatal(err)
	}
	want := readGolden(t, "candidates.json", got, false)
	if !bytes.Equal(got, want) {
		t.Errorf("candidate list encoding differs (a format change needs a new version; go test -update if intended):\n%s", got)
	}
	c, err := repo.ParseCandidateList(want)
	if err != nil || !reflect.DeepEqual(c, goldenCandidates()) {
		t.Errorf("ParseCandidateList(golden) = %+v, %v", c, err)
	}
}

func FuzzParseCandidateList(f *testing.F) {
	b, _ := json.Marshal(goldenCandidates())
	f.Add(b)
	f.Add([]byte(`{"version":1,"session":"x","marked":"2026-01-01T00:00:00Z","complete":false,"writers":null,"packs":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := repo.ParseCandidateList(b)
		if err != nil {
			if !errors.Is(err, repo.ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		again, _ := json.Marshal(c)
		if c2, err := repo.ParseCandidateList(again); err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("re-encoded list differs: %+v, %v", c2, err)
		}
	})
}
