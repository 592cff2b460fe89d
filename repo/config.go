package repo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"

	"github.com/arcabackup/arca/repo/backend"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/restic/chunker"
)

// Repository format versions, stored in the config. Version 2 adds
// two-phase garbage collection (docs/format.md, "Candidate list"): its
// writers read the candidate lists, so prune runs only from version 2.
// Version 3 adds groups of small data blobs (pack header version 2):
// only its writers group blobs. arca before a version refuses to open a
// repository of that version. Repositories of older versions are read
// and written as before; `arca migrate` moves one to ConfigVersion.
const (
	ConfigVersion1 = 1
	ConfigVersion2 = 2
	ConfigVersion  = 3
)

// Config is the repository's encrypted configuration, fixed at Init.
type Config struct {
	Version           int              `json:"version"`
	ID                crypto.ID        `json:"id"`
	ChunkerPolynomial chunker.Pol      `json:"chunker_polynomial"`
	ChunkMin          uint             `json:"chunk_min"`
	ChunkAvgBits      int              `json:"chunk_avg_bits"`
	ChunkMax          uint             `json:"chunk_max"`
	Compression       pack.Compression `json:"compression"`
	PackSize          int              `json:"pack_size"`
}

// Defaults for new repositories.
const (
	DefaultChunkMin     = 512 << 10
	DefaultChunkAvgBits = 20 // 1 MiB
	DefaultChunkMax     = 8 << 20
	DefaultPackSize     = 16 << 20
)

func newConfig(comp pack.Compression) (Config, error) {
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		return Config{}, fmt.Errorf("repo: chunker polynomial: %w", err)
	}
	var id crypto.ID
	if _, err := rand.Read(id[:]); err != nil {
		return Config{}, fmt.Errorf("repo: repository id: %w", err)
	}
	if comp == "" {
		comp = pack.CompressionAuto
	}
	return Config{
		Version: ConfigVersion, ID: id, ChunkerPolynomial: pol,
		ChunkMin: DefaultChunkMin, ChunkAvgBits: DefaultChunkAvgBits, ChunkMax: DefaultChunkMax,
		Compression: comp, PackSize: DefaultPackSize,
	}, nil
}

// EncodeConfig returns the config's plaintext (JSON).
func EncodeConfig(c Config) string {
	b, _ := json.Marshal(c) // plain fields: cannot fail
	return string(b)
}

// ParseConfig decodes and validates a config's plaintext.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("repo: config: %w: %v", ErrCorrupt, err)
	}
	if c.Version < ConfigVersion1 || c.Version > ConfigVersion {
		return c, fmt.Errorf("repo: config version %d not supported (this arca reads versions %d to %d; a newer arca wrote it)", c.Version, ConfigVersion1, ConfigVersion)
	}
	if _, err := pack.ParseCompression(string(c.Compression)); err != nil {
		return c, fmt.Errorf("repo: config: %w", err)
	}
	switch {
	case c.ChunkerPolynomial == 0 || !c.ChunkerPolynomial.Irreducible() || c.ChunkerPolynomial.Deg() != 53:
		return c, fmt.Errorf("repo: config: %w: invalid chunker polynomial %s", ErrCorrupt, c.ChunkerPolynomial)
	case c.ChunkMin < 64 || c.ChunkMax < c.ChunkMin || c.ChunkMax > 64<<20 || c.ChunkAvgBits < 10 || c.ChunkAvgBits > 26:
		return c, fmt.Errorf("repo: config: %w: chunk sizes min %d avg 2^%d max %d", ErrCorrupt, c.ChunkMin, c.ChunkAvgBits, c.ChunkMax)
	case c.PackSize < 1<<20 || c.PackSize > 1<<30:
		return c, fmt.Errorf("repo: config: %w: pack size %d", ErrCorrupt, c.PackSize)
	}
	return c, nil
}

// Migrate moves the repository to format version ConfigVersion by
// replacing its config (the only file ever replaced; the backend saves
// atomically) and returns the version it had. The caller has announced
// itself as an exclusive writer, so no writer of the old version is
// running; arca before ConfigVersion refuses to open the repository after.
func (r *Repository) Migrate(ctx context.Context) (int, error) {
	from := r.cfg.Version
	if from == ConfigVersion {
		return from, nil
	}
	cfg := r.cfg
	cfg.Version = ConfigVersion
	data, err := SealFile(r.key, crypto.KindConfig, []byte(EncodeConfig(cfg)))
	if err != nil {
		return from, err
	}
	if err := r.be.Save(ctx, backend.Handle{Type: backend.ConfigFile}, backend.Bytes(data)); err != nil {
		return from, fmt.Errorf("repo: migrate: save config: %w", err)
	}
	r.cfg = cfg
	return from, nil
}
