package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/backendtest"
)

func TestBackend(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		b, err := Create(filepath.Join(t.TempDir(), "repo"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestNoTempFilesLeft(t *testing.T) {
	dir := t.TempDir()
	b, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := backend.Handle{Type: backend.SnapshotFile, Name: strings.Repeat("ab", 32)}
	if err := b.Save(t.Context(), h, backend.Bytes([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "snapshots"))
	if len(entries) != 1 || entries[0].Name() != h.Name {
		t.Fatalf("snapshots/ holds %v; want only %s", entries, h.Name)
	}
}

func TestOpenMissing(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("Open of a missing directory succeeded")
	}
	if _, err := Create(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

// TestStrayPack: a pack-like file in the wrong data/ subdirectory is not
// listed (Load would not find it) and is reported.
func TestStrayPack(t *testing.T) {
	dir := t.TempDir()
	b, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	var warned []string
	b.Warn = func(msg string) { warned = append(warned, msg) }
	good := backend.Handle{Type: backend.PackFile, Name: strings.Repeat("ab", 32)}
	if err := b.Save(t.Context(), good, backend.Bytes([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	stray := strings.Repeat("cd", 32)
	if err := os.WriteFile(filepath.Join(dir, "data", "ab", stray), []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	var listed []string
	err = b.List(t.Context(), backend.PackFile, func(fi backend.FileInfo) error {
		listed = append(listed, fi.Name)
		_, err := b.Stat(t.Context(), backend.Handle{Type: backend.PackFile, Name: fi.Name})
		return err
	})
	if err != nil || len(listed) != 1 || listed[0] != good.Name {
		t.Errorf("listed %q, %v; want only %s", listed, err, good.Name)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], stray) {
		t.Errorf("warnings %q; want one naming the stray file", warned)
	}
}
