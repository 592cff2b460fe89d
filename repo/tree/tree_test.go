package tree

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleTree() *Tree {
	id := crypto.Hash([]byte("blob"))
	sub := crypto.Hash([]byte("tree"))
	t := &Tree{Nodes: []Node{
		{Name: "z-file", Type: File, Mode: 0o644, UID: 1000, GID: 1000, User: "ann", Group: "staff", Size: 5,
			ModTime: 1_700_000_000_123_456_789, AccessTime: 1_700_000_001_000_000_000, ChangeTime: 1_700_000_002_000_000_000,
			Inode: 42, Device: 2049, Links: 1, Content: []crypto.ID{id, id},
			Xattrs: []Xattr{{Name: "user.b", Value: []byte("2")}, {Name: "user.a", Value: nil}}},
		{Name: "dir", Type: Dir, Mode: 0o2755, Subtree: sub, ModTime: -5},
		{Name: "bad-\xff-name", Type: Symlink, Mode: 0o777, LinkTarget: "target-\xfe"},
		{Name: "fifo", Type: FIFO, Mode: 0o600},
		{Name: "dev", Type: CharDev, Mode: 0o660, Rdev: 0x0501},
	}}
	t.Sort()
	return t
}

func TestRoundTrip(t *testing.T) {
	want := sampleTree()
	enc := want.Encode(nil)
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Encode(nil), enc) {
		t.Fatal("re-encoding differs")
	}
	if n, ok := got.Find("bad-\xff-name"); !ok || n.LinkTarget != "target-\xfe" {
		t.Fatalf("non-UTF-8 name or target did not survive: %+v", n)
	}
	if n, _ := got.Find("z-file"); n.Xattrs[0].Name != "user.a" {
		t.Fatalf("xattrs not sorted: %+v", n.Xattrs)
	}
}

// TestGolden pins the encoding: a change here is a format change and
// needs a new version (docs/format.md).
func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "sample.tree.hex")
	got := []byte(hexDump(sampleTree().Encode(nil)))
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding differs from %s (run go test -update if the format change is intended):\n%s", path, got)
	}
}

func hexDump(b []byte) string {
	const digits = "0123456789abcdef"
	var out []byte
	for i, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
		if i%32 == 31 {
			out = append(out, '\n')
		}
	}
	return string(out) + "\n"
}

func TestDecodeRejects(t *testing.T) {
	good := sampleTree()
	unsorted := &Tree{Nodes: []Node{{Name: "b", Type: File}, {Name: "a", Type: File}}}
	dup := &Tree{Nodes: []Node{{Name: "a", Type: File}, {Name: "a", Type: File}}}
	slash := &Tree{Nodes: []Node{{Name: "a/b", Type: File}}}
	dot := &Tree{Nodes: []Node{{Name: "..", Type: File}}}
	content := &Tree{Nodes: []Node{{Name: "d", Type: Symlink, Content: []crypto.ID{{1}}}}}
	badType := &Tree{Nodes: []Node{{Name: "x", Type: 99}}}
	cases := map[string][]byte{
		"empty":     nil,
		"version":   {9, 0},
		"truncated": good.Encode(nil)[:40],
		"trailing":  append(good.Encode(nil), 0),
		"unsorted":  unsorted.Encode(nil),
		"duplicate": dup.Encode(nil),
		"slash":     slash.Encode(nil),
		"dotdot":    dot.Encode(nil),
		"content":   content.Encode(nil),
		"type":      badType.Encode(nil),
		"count":     {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	}
	for name, b := range cases {
		if _, err := Decode(b); !errors.Is(err, pack.ErrCorrupt) {
			t.Errorf("%s: err = %v; want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sampleTree().Encode(nil))
	f.Add((&Tree{}).Encode(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := Decode(b)
		if err != nil {
			if !errors.Is(err, pack.ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		// Decode accepts only canonical encodings.
		if !bytes.Equal(tr.Encode(nil), b) {
			t.Fatalf("accepted a non-canonical encoding")
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	t := &Tree{}
	for i := range 1000 {
		n := sampleTree().Nodes[4]
		n.Name = string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		t.Nodes = append(t.Nodes, n)
	}
	t.Sort()
	b.ReportAllocs()
	for b.Loop() {
		t.Encode(nil)
	}
}
