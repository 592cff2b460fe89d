package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// writeSmall writes n files of 64 B to 8 KiB (mostly small) of text
// into DIR/dNNN/NN/, 100 per directory; every fourth file repeats an
// earlier file's content. With change, DIR must hold that tree: 1% of the
// files are rewritten and 1% new files are added beside them.
func writeSmall(dir string, n int, change bool) error {
	r := rand.New(rand.NewChaCha8([32]byte{'s', 'm', 'a', 'l', 'l'}))
	cr := rand.New(rand.NewChaCha8([32]byte{'c', 'h', 'a', 'n', 'g', 'e'}))
	contents := make([][]byte, 0, 1024) // recent contents, for duplicates
	var buf []byte
	for i := range n {
		name := filepath.Join(dir, fmt.Sprintf("d%03d", i/1000), fmt.Sprintf("%02d", i/100%10), fmt.Sprintf("f%05d.txt", i))
		var data []byte
		if i%4 == 3 && len(contents) > 0 {
			data = contents[r.IntN(len(contents))]
		} else {
			size := int(64 * math.Pow(128, math.Pow(r.Float64(), 1.7))) // mean ~1.1 KiB
			buf = appendText(buf[:0], r, size)
			data = buf
			if len(contents) < cap(contents) {
				contents = append(contents, append([]byte(nil), data...))
			} else {
				contents[r.IntN(len(contents))] = append([]byte(nil), data...)
			}
		}
		if !change {
			if i%100 == 0 {
				if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
					return err
				}
			}
			if err := os.WriteFile(name, data, 0o644); err != nil {
				return err
			}
			continue
		}
		switch cr.IntN(100) {
		case 0: // rewritten
			if err := os.WriteFile(name, appendText(nil, cr, len(data)), 0o644); err != nil {
				return err
			}
		case 1: // a new file beside it
			if err := os.WriteFile(name+".new", appendText(nil, cr, 64+cr.IntN(8000)), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
