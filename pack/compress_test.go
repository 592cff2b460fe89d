package pack

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestCompressChoices(t *testing.T) {
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.NewChaCha8([32]byte{7}).Read(b)
		return b
	}
	text := bytes.Repeat([]byte("func main() { fmt.Println(\"hello\") }\n"), 1<<15)
	mixed := append(random(600<<10), text[:600<<10]...)
	for _, c := range []struct {
		name  string
		plain []byte
		mode  Compression
		want  bool
	}{
		{"tiny text", text[:200], CompressionAuto, false},
		{"small text", text[:1000], CompressionAuto, true},
		{"large text", text, CompressionAuto, true},
		{"large random (probed)", random(1 << 20), CompressionAuto, false},
		{"small random", random(10 << 10), CompressionAuto, false},
		{"half random, half text", mixed, CompressionAuto, true},
		{"off", text, CompressionOff, false},
		{"max", text, CompressionMax, true},
	} {
		comp := NewCompressor(c.mode)
		out, flags := comp.Compress(c.plain)
		if got := flags&FlagZstd != 0; got != c.want {
			t.Errorf("%s: compressed %v; want %v", c.name, got, c.want)
			continue
		}
		if !c.want {
			if !bytes.Equal(out, c.plain) {
				t.Errorf("%s: stored payload differs from the input", c.name)
			}
			continue
		}
		dec, _ := zstd.NewReader(nil)
		back, err := dec.DecodeAll(out, nil)
		if err != nil || !bytes.Equal(back, c.plain) {
			t.Errorf("%s: round trip failed: %v", c.name, err)
		}
	}
}

// TestSmallTextCompresses: a small text blob in which zstd finds no
// matches still shrinks by entropy-coding its literals (restic 0.14's
// zstd did; klauspost's default leaves such literals raw).
func TestSmallTextCompresses(t *testing.T) {
	rng := uint64(7)
	plain := make([]byte, 4096)
	for i := range plain {
		rng = rng*6364136223846793005 + 1442695040888963407
		plain[i] = byte('a' + (rng>>40)%26)
	}
	for _, mode := range []Compression{CompressionAuto, CompressionMax} {
		out, flags := NewCompressor(mode).Compress(plain)
		if flags&FlagZstd == 0 || float64(len(plain))/float64(len(out)) < 1.5 {
			t.Errorf("%s: 4 KiB of lowercase letters -> %d bytes (flags %d); want at least 1.5x", mode, len(out), flags)
		}
	}
}
