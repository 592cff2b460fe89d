package main

import "math/rand/v2"

// writeImage writes size bytes of a mixed disk image: 8 MiB segments of
// random bytes (30%), text (30%), binary records (25%) and zeros (15%).
// The edited version has 1 KiB inserted at 3/16 of the size, 10 MiB
// overwritten at the middle and 50 MiB of text and random bytes appended.
func writeImage(path string, size int64, edit bool) error {
	const seg = 8 << 20
	w, err := create(path)
	if err != nil {
		return err
	}
	src := rand.NewChaCha8([32]byte{'i', 'm', 'g'})
	r := rand.New(src)
	editSrc := rand.NewChaCha8([32]byte{'e', 'd', 'i', 't'})
	editRand := rand.New(editSrc)
	insertAt := size/16*3 + 12345
	overAt, overEnd := size/2+777, size/2+777+10<<20
	var seq uint64
	buf := make([]byte, 0, seg)
	for off := int64(0); off < size; off += seg {
		n := int(min(seg, size-off))
		buf = buf[:0]
		switch p := r.IntN(100); {
		case p < 30:
			buf = buf[:n]
			_, _ = src.Read(buf)
		case p < 60:
			buf = appendText(buf, r, n)
		case p < 85:
			buf = appendRecords(buf, r, n, &seq)
		default:
			buf = append(buf, make([]byte, n)...)
		}
		if !edit {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			continue
		}
		// Overwrite the part of [overAt, overEnd) in this segment.
		if lo, hi := max(overAt, off), min(overEnd, off+int64(n)); lo < hi {
			_, _ = editSrc.Read(buf[lo-off : hi-off])
		}
		if insertAt >= off && insertAt < off+int64(n) {
			k := insertAt - off
			ins := make([]byte, 1024)
			_, _ = editSrc.Read(ins)
			buf = append(buf[:k], append(ins, buf[k:]...)...)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	if edit {
		for range 5 {
			buf = appendText(buf[:0], editRand, 5<<20)
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:5<<20]
			_, _ = editSrc.Read(buf)
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
	}
	return w.Close()
}
