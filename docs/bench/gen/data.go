package main

import (
	"bufio"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"strings"
)

// words is a fixed vocabulary of pronounceable words, so generated text
// compresses like prose or source code does.
var words = func() []string {
	r := rand.New(rand.NewPCG(1, 2))
	syl := []string{"ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "an", "el", "or", "us", "ber", "con", "dat", "fer", "gus", "hal", "pre", "str", "ing", "tion", "ment"}
	w := make([]string, 2048)
	for i := range w {
		var b strings.Builder
		for range 1 + r.IntN(3) {
			b.WriteString(syl[r.IntN(len(syl))])
		}
		w[i] = b.String()
	}
	return w
}()

// word picks a word with a skewed frequency, as in natural text.
func word(r *rand.Rand) string {
	i := r.IntN(len(words))
	if r.IntN(2) == 0 {
		i %= 64
	}
	return words[i]
}

// appendText appends about n bytes of lines of words.
func appendText(b []byte, r *rand.Rand, n int) []byte {
	end := len(b) + n
	for len(b) < end {
		for k := 4 + r.IntN(10); k > 0; k-- {
			b = append(b, word(r)...)
			b = append(b, ' ')
		}
		b[len(b)-1] = '\n'
	}
	return b[:end]
}

// appendRecords appends n bytes of 64-byte binary records: counters,
// timestamps, small numbers and names, as in a database file.
func appendRecords(b []byte, r *rand.Rand, n int, seq *uint64) []byte {
	end := len(b) + n
	var rec [64]byte
	for len(b) < end {
		*seq++
		binary.LittleEndian.PutUint64(rec[0:], *seq)
		binary.LittleEndian.PutUint64(rec[8:], 1_700_000_000+*seq*7+uint64(r.IntN(5)))
		binary.LittleEndian.PutUint32(rec[16:], uint32(r.IntN(1000)))
		binary.LittleEndian.PutUint32(rec[20:], uint32(r.IntN(100)))
		clear(rec[24:])
		copy(rec[24:56], word(r)+" "+word(r))
		b = append(b, rec[:]...)
	}
	return b[:end]
}

// fileWriter is a buffered output file.
type fileWriter struct {
	f *os.File
	*bufio.Writer
}

func create(path string) (*fileWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &fileWriter{f, bufio.NewWriterSize(f, 1<<20)}, nil
}

func (w *fileWriter) Close() error {
	err := w.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}
