package repo

import (
	"bytes"
	"context"
	"fmt"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/klauspost/compress/zstd"
)

// ErrCorrupt is wrapped by every error about stored data that fails a check.
var ErrCorrupt = pack.ErrCorrupt

// A sealed repository file (config, index, snapshot, lock) is
//
//	magic "ARCA" | version u8 | kind u8 | sealed(flags u8 | payload)
//
// with associated data "arca" | version | kind. flags bit 0 says the payload
// is zstd-compressed. The file's name is the unkeyed BLAKE3-256 of all its
// bytes.
var fileMagic = []byte("ARCA")

const fileHeaderSize = 6

var fileEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
	zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20), zstd.WithEncoderCRC(false))
var fileDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))

// SealFile encodes plaintext as a sealed repository file of kind.
func SealFile(key *crypto.Key, kind crypto.Kind, plaintext []byte) ([]byte, error) {
	inner := []byte{0}
	if len(plaintext) >= 512 {
		c := fileEncoder.EncodeAll(plaintext, []byte{1})
		if len(c) < len(plaintext) {
			inner = c
		}
	}
	if inner[0] == 0 {
		inner = append(make([]byte, 0, 1+len(plaintext)), 0)
		inner = append(inner, plaintext...)
	}
	// One allocation for the sealed file (index files can be tens of MB).
	out := make([]byte, 0, fileHeaderSize+crypto.Overhead+len(inner))
	out = append(out, fileMagic...)
	out = append(out, crypto.FormatVersion, byte(kind))
	return key.Seal(out, inner, crypto.AD(nil, kind, nil))
}

// OpenFile authenticates and decodes a sealed repository file of kind.
func OpenFile(key *crypto.Key, kind crypto.Kind, data []byte) ([]byte, error) {
	if len(data) < fileHeaderSize+crypto.Overhead+1 || !bytes.Equal(data[:4], fileMagic) {
		return nil, fmt.Errorf("%w: not an arca file", ErrCorrupt)
	}
	if data[4] != crypto.FormatVersion {
		return nil, fmt.Errorf("%w: file format version %d, want %d", ErrCorrupt, data[4], crypto.FormatVersion)
	}
	if crypto.Kind(data[5]) != kind {
		return nil, fmt.Errorf("%w: file holds kind %d, want %d", ErrCorrupt, data[5], kind)
	}
	inner, err := key.Open(nil, data[fileHeaderSize:], crypto.AD(nil, kind, nil))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	switch inner[0] {
	case 0:
		return inner[1:], nil
	case 1:
		out, err := fileDecoder.DecodeAll(inner[1:], nil)
		if err != nil {
			return nil, fmt.Errorf("%w: decompress: %w", ErrCorrupt, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown file flags %#x", ErrCorrupt, inner[0])
}

// SaveFile seals plaintext and stores it under the hash of the stored
// bytes, which it returns.
func (r *Repository) SaveFile(ctx context.Context, t backend.FileType, kind crypto.Kind, plaintext []byte) (crypto.ID, error) {
	id, _, err := r.saveFile(ctx, t, kind, plaintext, nil)
	return id, err
}

// saveFile is SaveFile that also returns the stored size and, when
// during is not nil, calls it with the file's ID while the file uploads;
// its error is returned when the upload succeeds.
func (r *Repository) saveFile(ctx context.Context, t backend.FileType, kind crypto.Kind, plaintext []byte, during func(crypto.ID) error) (crypto.ID, int64, error) {
	data, err := SealFile(r.key, kind, plaintext)
	if err != nil {
		return crypto.ID{}, 0, err
	}
	id := crypto.Hash(data)
	h := backend.Handle{Type: t, Name: id.String()}
	var derr chan error
	if during != nil {
		derr = make(chan error, 1)
		go func() { derr <- during(id) }()
	}
	if err = r.be.Save(ctx, h, backend.Bytes(data)); err != nil {
		err = fmt.Errorf("repo: save %s: %w", h, err)
	}
	if derr != nil {
		if dErr := <-derr; err == nil {
			err = dErr
		}
	}
	if err != nil {
		return crypto.ID{}, 0, err
	}
	return id, int64(len(data)), nil
}

// LoadFile loads, verifies and opens file id of type t.
func (r *Repository) LoadFile(ctx context.Context, t backend.FileType, kind crypto.Kind, id crypto.ID) ([]byte, error) {
	h := backend.Handle{Type: t, Name: id.String()}
	data, cached := []byte(nil), false
	if t == backend.SnapshotFile {
		data, cached = r.files.get("snapshots", id)
	}
	if !cached {
		var err error
		if data, err = backend.ReadAll(ctx, r.be, h); err != nil {
			return nil, fmt.Errorf("repo: load %s: %w", h, err)
		}
		if crypto.Hash(data) != id {
			return nil, fmt.Errorf("repo: load %s: %w: content does not match its name", h, ErrCorrupt)
		}
		if t == backend.SnapshotFile {
			r.files.add("snapshots", id, bytes.NewReader(data))
		}
	}
	plain, err := OpenFile(r.key, kind, data)
	if err != nil {
		return nil, fmt.Errorf("repo: load %s: %w", h, err)
	}
	return plain, nil
}

// RemoveFile removes file id of type t.
func (r *Repository) RemoveFile(ctx context.Context, t backend.FileType, id crypto.ID) error {
	h := backend.Handle{Type: t, Name: id.String()}
	if err := r.be.Remove(ctx, h); err != nil {
		return fmt.Errorf("repo: remove %s: %w", h, err)
	}
	return nil
}

// ListFiles returns the IDs of the files of type t, skipping names that are
// not IDs.
func (r *Repository) ListFiles(ctx context.Context, t backend.FileType) ([]crypto.ID, error) {
	var ids []crypto.ID
	err := r.be.List(ctx, t, func(fi backend.FileInfo) error {
		if id, err := crypto.ParseID(fi.Name); err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repo: list %s: %w", t, err)
	}
	return ids, nil
}
