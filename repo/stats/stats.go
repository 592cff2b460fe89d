// Package stats measures snapshots: their logical size, their unique
// content and what they take in the repository.
package stats

import (
	"context"
	"fmt"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/zeebo/blake3"
)

// Modes of counting, named as restic names them.
const (
	// RestoreSize is the size of the files a restore would write, per
	// snapshot, summed over the snapshots (hard links counted once per
	// snapshot).
	RestoreSize = "restore-size"
	// FilesByContents counts each distinct file content once.
	FilesByContents = "files-by-contents"
	// RawData counts the blobs the snapshots reference, each once, with
	// the bytes they take in the repository.
	RawData = "raw-data"
)

// Result holds the figures of one mode; the JSON names are restic's where
// restic has them.
type Result struct {
	Mode      string `json:"mode"`
	Snapshots int    `json:"snapshots_count"`
	// TotalSize is: restore-size: bytes a restore writes;
	// files-by-contents: bytes of distinct file contents; raw-data: bytes
	// stored in packs for the referenced blobs (compressed, encrypted).
	TotalSize      uint64 `json:"total_size"`
	TotalFileCount uint64 `json:"total_file_count,omitempty"`
	TotalDirCount  uint64 `json:"total_dir_count,omitempty"`
	// raw-data only.
	TotalBlobCount         uint64  `json:"total_blob_count,omitempty"`
	TotalUncompressedSize  uint64  `json:"total_uncompressed_size,omitempty"`
	CompressionRatio       float64 `json:"compression_ratio,omitempty"`
	CompressionSpaceSaving float64 `json:"compression_space_saving,omitempty"` // percent
	// LogicalSize is the restore size of the snapshots and DedupRatio
	// LogicalSize over the plaintext bytes of the distinct data blobs.
	LogicalSize uint64  `json:"logical_size,omitempty"`
	DedupRatio  float64 `json:"deduplication_ratio,omitempty"`
}

// Compute measures the snapshot trees roots in mode. Each distinct tree is
// read once, whatever the mode and however many snapshots share it.
func Compute(ctx context.Context, r *repo.Repository, roots []crypto.ID, mode string) (*Result, error) {
	res := &Result{Mode: mode, Snapshots: len(roots)}
	var visit func(*tree.Node)
	data := map[crypto.ID]bool{}    // raw-data: distinct data blobs
	contents := map[[32]byte]bool{} // files-by-contents: distinct contents
	switch mode {
	case RestoreSize:
	case FilesByContents:
		visit = func(n *tree.Node) {
			if n.Type != tree.File {
				return
			}
			h := blake3.New()
			for _, id := range n.Content {
				h.Write(id[:])
			}
			fmt.Fprintf(h, "|%d", n.Size)
			var k [32]byte
			h.Sum(k[:0])
			if !contents[k] {
				contents[k] = true
				res.TotalSize += n.Size
				res.TotalFileCount++
			}
		}
	case RawData:
		visit = func(n *tree.Node) {
			for _, id := range n.Content {
				data[id] = true
			}
		}
	default:
		return nil, fmt.Errorf("stats: unknown mode %q: want %s, %s or %s", mode, RestoreSize, FilesByContents, RawData)
	}
	sz := newSizer(r, visit)
	var logical dirSize
	for _, root := range roots {
		s, err := sz.snapshot(ctx, root)
		if err != nil {
			return nil, err
		}
		logical.size += s.size
		logical.files += s.files
		logical.dirs += s.dirs
	}
	switch mode {
	case RestoreSize:
		res.TotalSize, res.TotalFileCount, res.TotalDirCount = logical.size, logical.files, logical.dirs
	case RawData:
		res.LogicalSize = logical.size
		if err := rawData(r, sz.memo, data, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// rawData sums what the distinct trees and data blobs take in the
// repository; a group of small blobs counts whole, once, when any of its
// members is referenced.
func rawData(r *repo.Repository, trees map[crypto.ID]*dirSize, data map[crypto.ID]bool, res *Result) error {
	var dataRaw uint64
	type groupKey struct {
		pack crypto.ID
		off  uint32
	}
	groups := map[groupKey]bool{} // a group is counted whole, once
	add := func(t pack.BlobType, id crypto.ID) error {
		loc, ok, err := r.Lookup(t, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("stats: %s blob %s is referenced but in no pack", t, id.Short())
		}
		res.TotalBlobCount++
		if g := (groupKey{loc.Pack, loc.Entry.Offset}); !loc.Entry.Grouped() {
			res.TotalSize += uint64(loc.Entry.Length)
		} else if !groups[g] {
			groups[g] = true
			res.TotalSize += uint64(loc.Entry.Length)
		}
		res.TotalUncompressedSize += uint64(loc.Entry.RawLength)
		if t == pack.DataBlob {
			dataRaw += uint64(loc.Entry.RawLength)
		}
		return nil
	}
	for id := range trees {
		if err := add(pack.TreeBlob, id); err != nil {
			return err
		}
	}
	for id := range data {
		if err := add(pack.DataBlob, id); err != nil {
			return err
		}
	}
	if res.TotalSize > 0 {
		res.CompressionRatio = float64(res.TotalUncompressedSize) / float64(res.TotalSize)
		res.CompressionSpaceSaving = 100 * (1 - float64(res.TotalSize)/float64(res.TotalUncompressedSize))
	}
	if dataRaw > 0 {
		res.DedupRatio = float64(res.LogicalSize) / float64(dataRaw)
	}
	return nil
}
