package backup_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/arcabackup/arca/repo"
	"github.com/restic/chunker"
)

// BenchmarkChunker measures content-defined chunking with the repository
// defaults, reusing one chunker and buffer as the backup workers do.
func BenchmarkChunker(b *testing.B) {
	data := make([]byte, 64<<20)
	rand.NewChaCha8([32]byte{1}).Read(data)
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		b.Fatal(err)
	}
	ch := chunker.NewWithBoundaries(nil, pol, repo.DefaultChunkMin, repo.DefaultChunkMax)
	buf := make([]byte, 0, repo.DefaultChunkMax)
	rd := bytes.NewReader(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(data)
		ch.ResetWithBoundaries(rd, pol, repo.DefaultChunkMin, repo.DefaultChunkMax)
		ch.SetAverageBits(repo.DefaultChunkAvgBits)
		for {
			c, err := ch.Next(buf[:0])
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			buf = c.Data[:0]
		}
	}
}
