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
