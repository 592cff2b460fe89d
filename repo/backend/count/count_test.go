package count

import (
	"io"
	"testing"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/backendtest"
	"github.com/arcabackup/arca/repo/backend/mem"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend { return New(mem.New()) })
}

func TestCounts(t *testing.T) {
	ctx := t.Context()
	b := New(mem.New())
	h := backend.Handle{Type: backend.SnapshotFile, Name: "aa"}
	b.Save(ctx, h, backend.Bytes([]byte("12345")))
	before := b.Counts()
	rd, _ := b.Load(ctx, h, 1, 3)
	io.Copy(io.Discard, rd)
	rd.Close()
	b.Stat(ctx, h)
	b.List(ctx, backend.PackFile, func(backend.FileInfo) error { return nil })
	b.Remove(ctx, h)
	got := b.Counts()
	if got.Saves != 1 || got.Loads != 1 || got.Stats != 1 || got.Lists != 1 || got.Removes != 1 ||
		got.BytesUp != 5 || got.BytesDown != 3 || got.Requests() != 5 {
		t.Errorf("counts %+v", got)
	}
	if got.ByType["snapshots"] != 4 || got.ByType["data"] != 1 {
		t.Errorf("by type %v; want 4 snapshots, 1 data", got.ByType)
	}
	if sum := got.Add(before); sum.Requests() != 6 || sum.Saves != 2 || sum.ByType["snapshots"] != 5 {
		t.Errorf("sum %+v; want 6 requests, 2 saves, 5 of snapshots", sum)
	}
}
