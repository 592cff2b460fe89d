package backup_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/restic/chunker"
)

// sequentialIDs chunks data on one goroutine, as a reference for the pool.
func sequentialIDs(t *testing.T, r *repo.Repository, data []byte) []crypto.ID {
	cfg := r.Config()
	ch := chunker.NewWithBoundaries(bytes.NewReader(data), cfg.ChunkerPolynomial, cfg.ChunkMin, cfg.ChunkMax)
	ch.SetAverageBits(cfg.ChunkAvgBits)
	var ids []crypto.ID
	for {
		c, err := ch.Next(nil)
		if errors.Is(err, io.EOF) {
			return ids
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.BlobID(c.Data))
	}
}

// checkContent checks that node lists exactly want's chunks, in order, and
// that the stored blobs read back as data.
func checkContent(t *testing.T, r *repo.Repository, node *tree.Node, data []byte) {
	t.Helper()
	want := sequentialIDs(t, r, data)
	if len(node.Content) != len(want) || node.Size != uint64(len(data)) {
		t.Fatalf("%s: %d blobs, %d bytes; want %d blobs, %d bytes", node.Name, len(node.Content), node.Size, len(want), len(data))
	}
	var got []byte
	for i, id := range node.Content {
		if id != want[i] {
			t.Fatalf("%s: blob %d is %s, want %s", node.Name, i, id.Short(), want[i].Short())
		}
		b, err := r.LoadBlob(t.Context(), pack.DataBlob, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("%s: stored content differs", node.Name)
	}
}

// TestLargeFilesInOrder backs up several files of many chunks at once and a
// stream: the pool stores their chunks on every core, and each file lists
// its blobs in file order, as one goroutine would have cut them.
func TestLargeFilesInOrder(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	files := map[string][]byte{}
	rng := rand.NewChaCha8([32]byte{7})
	for i, size := range []int{9 << 20, 6<<20 + 12345, 3 << 20, 700 << 10} {
		b := make([]byte, size)
		_, _ = rng.Read(b)
		if i%2 == 1 {
			// compressible: half text
			copy(b[size/2:], bytes.Repeat([]byte("compressible line of text\n"), size/2/26))
		}
		name := string(rune('a'+i)) + ".bin"
		files[name] = b
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		node, err := tree.Lookup(t.Context(), r, sn.Tree, filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		checkContent(t, r, node, data)
	}

	stream := append(files["a.bin"][1000:], files["b.bin"]...)
	sn, err = backup.RunStdin(t.Context(), r, bytes.NewReader(stream), "dump.sql", nil, backup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	node, err := tree.Lookup(t.Context(), r, sn.Tree, "/dump.sql")
	if err != nil {
		t.Fatal(err)
	}
	checkContent(t, r, node, stream)
}

// failingReader returns data, then an error.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestStreamReadError: a stream that fails after several chunks were handed
// to the pool records no snapshot, and the error names the stream.
func TestStreamReadError(t *testing.T) {
	r := repotest.New(t)
	data := make([]byte, 5<<20)
	_, _ = rand.NewChaCha8([32]byte{8}).Read(data)
	cause := errors.New("connection reset")
	_, err := backup.RunStdin(t.Context(), r, &failingReader{data: data, err: cause}, "db.sql", nil, backup.Options{})
	if !errors.Is(err, cause) || !bytes.Contains([]byte(err.Error()), []byte("db.sql")) {
		t.Fatalf("err = %v, want the read error naming db.sql", err)
	}
	ids, err := r.ListFiles(t.Context(), backend.SnapshotFile)
	if err != nil || len(ids) != 0 {
		t.Fatalf("snapshots after a failed stream: %v, %v", ids, err)
	}
}
