package stats_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/stats"
)

func TestModes(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	random := make([]byte, 100_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := []byte(strings.Repeat("compressible text ", 10_000)) // 180,000 bytes
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("random", random)
	write("copy", random)
	write("text", text)
	if err := os.Link(filepath.Join(src, "random"), filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(src, "sub"), 0o755)
	sn1, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	write("text", append(text, "!"...))
	sn2, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	roots := []crypto.ID{sn1.Tree, sn2.Tree}
	compute := func(mode string, roots ...crypto.ID) *stats.Result {
		res, err := stats.Compute(t.Context(), r, roots, mode)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	// Restore size: random and copy (link shares random's inode), text.
	one := uint64(2*len(random) + len(text))
	if res := compute(stats.RestoreSize, sn1.Tree); res.TotalSize != one || res.TotalFileCount != 3 {
		t.Errorf("restore-size of one snapshot: %d bytes in %d files; want %d in 3", res.TotalSize, res.TotalFileCount, one)
	}
	if res := compute(stats.RestoreSize, roots...); res.TotalSize != 2*one+1 || res.Snapshots != 2 {
		t.Errorf("restore-size of both: %d bytes; want %d", res.TotalSize, 2*one+1)
	}
	// Distinct contents: random, text and text+"!".
	if res := compute(stats.FilesByContents, roots...); res.TotalFileCount != 3 || res.TotalSize != uint64(len(random)+2*len(text)+1) {
		t.Errorf("files-by-contents: %d files, %d bytes", res.TotalFileCount, res.TotalSize)
	}
	// Raw data: random is stored once; text compresses.
	res := compute(stats.RawData, roots...)
	if res.TotalUncompressedSize < uint64(len(random)+2*len(text)) || res.CompressionRatio <= 1.5 || res.DedupRatio <= 1.5 {
		t.Errorf("raw-data: %+v", res)
	}
	if res.LogicalSize != 2*one+1 || res.TotalSize >= res.TotalUncompressedSize {
		t.Errorf("raw-data: logical %d, stored %d, uncompressed %d", res.LogicalSize, res.TotalSize, res.TotalUncompressedSize)
	}
	if _, err := stats.Compute(t.Context(), r, roots, "bogus"); err == nil {
		t.Error("unknown mode accepted")
	}
}

// TestRawDataGroups: small files stored in one group count the group's
// bytes once, not once per file.
func TestRawDataGroups(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	for i := range 200 {
		b := []byte(strings.Repeat("file "+strings.Repeat("x", i%13)+" line\n", 5+i%7))
		if err := os.WriteFile(filepath.Join(src, "f"+string(rune('a'+i%26))+strings.Repeat("0", i/26)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := stats.Compute(t.Context(), r, []crypto.ID{sn.Tree}, stats.RawData)
	if err != nil {
		t.Fatal(err)
	}
	// Every blob is referenced: the stored size is what the packs hold,
	// less their headers.
	var packs int64
	if err := r.IndexedPackSizes(func(_ crypto.ID, size int64) error { packs += size; return nil }); err != nil {
		t.Fatal(err)
	}
	if res.TotalBlobCount < 20 || res.TotalSize == 0 || int64(res.TotalSize) > packs {
		t.Errorf("raw-data of grouped small files: %d blobs, stored %d, in packs of %d bytes", res.TotalBlobCount, res.TotalSize, packs)
	}
}
