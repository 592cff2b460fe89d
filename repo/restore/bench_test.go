package restore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/restore"
	"github.com/arcabackup/arca/repo/snapshot"
)

// BenchmarkBackup backs up a generated tree (every node type, ~25 MB) into
// a fresh local repository per iteration.
func BenchmarkBackup(b *testing.B) {
	src := filepath.Join(b.TempDir(), "src")
	size := fstest.Generate(b, src, 3)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := repotest.New(b)
		b.StartTimer()
		if _, err := backup.Run(b.Context(), r, backup.Options{Paths: []string{src}}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSnapshot backs up a generated tree; it returns the repository, the
// snapshot and the tree's size.
func benchSnapshot(b *testing.B) (*repo.Repository, *snapshot.Snapshot, int64) {
	src := filepath.Join(b.TempDir(), "src")
	size := fstest.Generate(b, src, 4)
	r := repotest.New(b)
	sn, err := backup.Run(b.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		b.Fatal(err)
	}
	return r, sn, size
}

// BenchmarkRestore restores the generated tree into an empty directory.
func BenchmarkRestore(b *testing.B) {
	r, sn, size := benchSnapshot(b)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		target := b.TempDir()
		b.StartTimer()
		if err := restore.Run(b.Context(), r, sn, restore.Options{Target: target}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(target)
		b.StartTimer()
	}
}

// BenchmarkRestoreIdentical restores over a target that already holds the
// snapshot: every file is found unchanged and nothing is read from the
// repository.
func BenchmarkRestoreIdentical(b *testing.B) {
	r, sn, size := benchSnapshot(b)
	target := b.TempDir()
	if err := restore.Run(b.Context(), r, sn, restore.Options{Target: target}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		prog := &restore.Progress{}
		if err := restore.Run(b.Context(), r, sn, restore.Options{Target: target, Progress: prog}); err != nil {
			b.Fatal(err)
		}
		if prog.BytesRead.Load() != 0 {
			b.Fatalf("read %d bytes from the repository", prog.BytesRead.Load())
		}
	}
}
