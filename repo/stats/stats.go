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

// Compute measures the snapshot trees roots in mode.
func Compute(ctx context.Context, r *repo.Repository, roots []crypto.ID, mode string) (*Result, error) {
	res := &Result{Mode: mode, Snapshots: len(roots)}
	switch mode {
	case RestoreSize:
		sz := newSizer(r)
		for _, root := range roots {
			s, err := sz.snapshot(ctx, root)
			if err != nil {
				return nil, err
			}
			res.TotalSize += s.size
			res.TotalFileCount += s.files
			res.TotalDirCount += s.dirs
		}
	case FilesByContents:
		seen := map[crypto.ID]bool{}
		contents := map[[32]byte]bool{}
		for _, root := range roots {
			err := uniqueTrees(ctx, r, root, seen, func(n *tree.Node) {
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
			})
			if err != nil {
				return nil, err
			}
		}
	case RawData:
		if err := rawData(ctx, r, roots, res); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("stats: unknown mode %q: want %s, %s or %s", mode, RestoreSize, FilesByContents, RawData)
	}
	return res, nil
}

func rawData(ctx context.Context, r *repo.Repository, roots []crypto.ID, res *Result) error {
	seen := map[crypto.ID]bool{}
	data := map[crypto.ID]bool{}
	for _, root := range roots {
		if err := uniqueTrees(ctx, r, root, seen, func(n *tree.Node) {
			for _, id := range n.Content {
				data[id] = true
			}
		}); err != nil {
			return err
		}
	}
	var dataRaw uint64
	add := func(t pack.BlobType, id crypto.ID) error {
		loc, ok, err := r.Lookup(t, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("stats: %s blob %s is referenced but in no pack", t, id.Short())
		}
		res.TotalBlobCount++
		res.TotalSize += uint64(loc.Entry.Length)
		res.TotalUncompressedSize += uint64(loc.Entry.RawLength)
		if t == pack.DataBlob {
			dataRaw += uint64(loc.Entry.RawLength)
		}
		return nil
	}
	for id := range seen {
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
	sz := newSizer(r)
	for _, root := range roots {
		s, err := sz.snapshot(ctx, root)
		if err != nil {
			return err
		}
		res.LogicalSize += s.size
	}
	if dataRaw > 0 {
		res.DedupRatio = float64(res.LogicalSize) / float64(dataRaw)
	}
	return nil
}

// uniqueTrees calls fn for every node of the trees under root not in seen,
// and adds those trees to seen.
func uniqueTrees(ctx context.Context, r *repo.Repository, id crypto.ID, seen map[crypto.ID]bool, fn func(*tree.Node)) error {
	if seen[id] {
		return nil
	}
	seen[id] = true
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := tree.Load(ctx, r, id)
	if err != nil {
		return err
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		fn(n)
		if n.Type == tree.Dir {
			if err := uniqueTrees(ctx, r, n.Subtree, seen, fn); err != nil {
				return err
			}
		}
	}
	return nil
}
