package pack

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// rows returns 1 MiB of tab-separated numeric rows, as in a database
// dump's order items, where zstd's fastest level stores less than its
// default one.
func rows(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	var b []byte
	order := 700000
	for len(b) < 1<<20 {
		if r.IntN(3) == 0 {
			order++
		}
		b = strconv.AppendInt(b, int64(order), 10)
		b = append(b, '\t')
		b = strconv.AppendInt(b, int64(r.IntN(50000)), 10)
		b = append(b, '\t')
		b = strconv.AppendInt(b, int64(1+r.IntN(4)), 10)
		b = append(b, '\t')
		b = strconv.AppendFloat(b, float64(r.IntN(50000))/100, 'f', 2, 64)
		b = append(b, '\n')
	}
	return b
}

// words returns 1 MiB of lines of words from a small vocabulary, where the
// default level stores less.
func words(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	vocab := make([]string, 2048)
	syl := []string{"ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "an", "el", "or", "us", "ber", "con", "dat", "tion", "ment"}
	for i := range vocab {
		for range 1 + r.IntN(3) {
			vocab[i] += syl[r.IntN(len(syl))]
		}
	}
	var b []byte
	for len(b) < 1<<20 {
		for k := 4 + r.IntN(10); k > 0; k-- {
			i := r.IntN(len(vocab))
			if r.IntN(2) == 0 {
				i %= 64
			}
			b = append(b, vocab[i]...)
			b = append(b, ' ')
		}
		b[len(b)-1] = '\n'
	}
	return b
}

// TestStream: a stream's trial blobs are stored in the smaller form (the
// fastest level's only when 1% smaller), and the blobs up to the next
// trial at the level that won; every blob decodes to its input.
func TestStream(t *testing.T) {
	def, fast := newEncoder(zstd.SpeedDefault), newEncoder(zstd.SpeedFastest)
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	// Blobs 0..StreamTrial-1 are rows, then words, then rows again.
	blob := func(i int) []byte {
		if i/StreamTrial == 1 {
			return words(uint64(i))
		}
		return rows(uint64(i))
	}
	c := NewCompressor(CompressionAuto)
	s := &Stream{}
	for i := range 2*StreamTrial + 2 {
		plain := blob(i)
		d, f := def.EncodeAll(plain, nil), fast.EncodeAll(plain, nil)
		fastWins := len(f) <= len(d)-len(d)/100
		trial := i%StreamTrial == 0
		if trial && fastWins != (i/StreamTrial != 1) {
			t.Fatalf("blob %d: fastest level %d bytes, default %d: the test's data no longer has the fastest level win on rows only", i, len(f), len(d))
		}
		out, flags := c.ForStream(s, i).Compress(bytes.Clone(plain))
		if flags != FlagZstd {
			t.Fatalf("blob %d stored uncompressed", i)
		}
		want := d
		if i/StreamTrial != 1 { // the level of the last trial: fastest on rows
			want = f
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("blob %d (trial %v): %d bytes, not the %d of the level its trial chose (default %d, fastest %d)", i, trial, len(out), len(want), len(d), len(f))
		}
		got, err := dec.DecodeAll(out, nil)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("blob %d does not decode to its input: %v", i, err)
		}
	}
	// Without a stream, and in max mode, blobs use the mode's level.
	plain := rows(1)
	if out, _ := c.ForStream(nil, 1).Compress(bytes.Clone(plain)); !bytes.Equal(out, def.EncodeAll(plain, nil)) {
		t.Error("blob without a stream not at the default level")
	}
	m := NewCompressor(CompressionMax)
	want, _ := m.Compress(bytes.Clone(plain))
	want = bytes.Clone(want)
	if out, _ := m.ForStream(&Stream{}, 0).Compress(bytes.Clone(plain)); !bytes.Equal(out, want) {
		t.Error("max mode's stream blob not at the best level")
	}
}
