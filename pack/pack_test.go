package pack

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/arcabackup/arca/crypto"
)

func testKey(t testing.TB) *crypto.Key {
	k, err := crypto.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type blob struct {
	t    BlobType
	data []byte
}

func buildPack(t testing.TB, k *crypto.Key, blobs []blob) ([]byte, []Entry) {
	var buf bytes.Buffer
	w, err := NewWriter(k, &buf)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCompressor(CompressionAuto)
	for _, b := range blobs {
		payload, flags := c.Compress(bytes.Clone(b.data))
		if err := w.Add(b.t, k.BlobID(b.data), flags, payload, len(b.data)); err != nil {
			t.Fatal(err)
		}
	}
	id, size, entries, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if id != crypto.Hash(buf.Bytes()) || size != int64(buf.Len()) {
		t.Fatalf("Finish = %s, %d; want the hash and size of the %d bytes written", id.Short(), size, buf.Len())
	}
	return buf.Bytes(), entries
}

func testBlobs() []blob {
	random := make([]byte, 100<<10)
	rand.Read(random)
	return []blob{
		{DataBlob, []byte("small")},
		{DataBlob, bytes.Repeat([]byte("compressible "), 10000)},
		{DataBlob, random},
		{TreeBlob, []byte("tree")},
		{DataBlob, nil},
	}
}

func TestRoundTrip(t *testing.T) {
	k := testKey(t)
	blobs := testBlobs()
	data, entries := buildPack(t, k, blobs)
	got, err := ReadHeader(k, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(blobs) {
		t.Fatalf("got %d entries; want %d", len(got), len(blobs))
	}
	for i, e := range got {
		if e != entries[i] {
			t.Errorf("entry %d = %+v; want %+v", i, e, entries[i])
		}
		plain, err := OpenBlob(k, nil, e, data[e.Offset:e.Offset+e.Length], nil)
		if err != nil {
			t.Fatalf("OpenBlob %d: %v", i, err)
		}
		if !bytes.Equal(plain, blobs[i].data) {
			t.Errorf("blob %d differs", i)
		}
	}
	if !got[1].Compressed() || got[2].Compressed() || got[0].Compressed() {
		t.Errorf("compression flags = %v %v %v; want false true false", got[0].Compressed(), got[1].Compressed(), got[2].Compressed())
	}
}

func TestLargeHeader(t *testing.T) {
	k := testKey(t)
	var blobs []blob
	for i := range 3000 {
		blobs = append(blobs, blob{DataBlob, fmt.Appendf(nil, "blob %d", i)})
	}
	data, _ := buildPack(t, k, blobs)
	got, err := ReadHeader(k, bytes.NewReader(data), int64(len(data)))
	if err != nil || len(got) != 3000 {
		t.Fatalf("ReadHeader: %d entries, %v", len(got), err)
	}
}

func TestCorruption(t *testing.T) {
	k := testKey(t)
	data, entries := buildPack(t, k, testBlobs())
	// A flipped byte anywhere is detected: in a blob by OpenBlob, in the
	// header or trailer by ReadHeader.
	for _, pos := range []int{0, int(entries[2].Offset) + 50, len(data) - 10, len(data) - 1} {
		d := bytes.Clone(data)
		d[pos] ^= 0x40
		got, err := ReadHeader(k, bytes.NewReader(d), int64(len(d)))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("flip at %d: ReadHeader err = %v; want ErrCorrupt", pos, err)
			}
			continue
		}
		var blobErr error
		for _, e := range got {
			if _, err := OpenBlob(k, nil, e, d[e.Offset:e.Offset+e.Length], nil); err != nil {
				blobErr = err
			}
		}
		if !errors.Is(blobErr, ErrCorrupt) {
			t.Errorf("flip at %d: blob err = %v; want ErrCorrupt", pos, blobErr)
		}
	}
	// A blob presented under another blob's entry fails.
	e0, e1 := entries[0], entries[3]
	if _, err := OpenBlob(k, nil, e1, data[e0.Offset:e0.Offset+e0.Length], nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("swapped blob: err = %v; want ErrCorrupt", err)
	}
}

func TestDecodeHeaderRejects(t *testing.T) {
	id := crypto.Hash([]byte("x"))
	good := []Entry{{Type: DataBlob, ID: id, Offset: 0, Length: 50, RawLength: 10}}
	cases := map[string]struct {
		b       []byte
		dataEnd uint64
	}{
		"empty":        {nil, 100},
		"bad version":  {append([]byte{9}, EncodeHeader(nil, Version1, good)[1:]...), 100},
		"past data":    {EncodeHeader(nil, Version1, good), 40},
		"huge count":   {[]byte{1, 0xff, 0xff, 0xff, 0x0f}, 100},
		"trailing":     {append(EncodeHeader(nil, Version1, good), 0), 100},
		"bad type":     {EncodeHeader(nil, Version1, []Entry{{Type: 7, ID: id, Length: 50, RawLength: 10}}), 100},
		"overlap":      {EncodeHeader(nil, Version1, []Entry{good[0], {Type: DataBlob, ID: id, Offset: 10, Length: 50, RawLength: 10}}), 200},
		"raw mismatch": {EncodeHeader(nil, Version1, []Entry{{Type: DataBlob, ID: id, Length: 50, RawLength: 11}}), 100},
	}
	for name, c := range cases {
		if _, err := DecodeHeader(c.b, c.dataEnd); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v; want ErrCorrupt", name, err)
		}
	}
	if _, err := DecodeHeader(EncodeHeader(nil, Version1, good), 50); err != nil {
		t.Errorf("good header: %v", err)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	id := crypto.Hash([]byte("x"))
	f.Add(EncodeHeader(nil, Version1, []Entry{{Type: DataBlob, ID: id, Length: 50, RawLength: 10}}), uint64(100))
	f.Add(EncodeHeader(nil, Version1, []Entry{{Type: TreeBlob, Flags: FlagZstd, ID: id, Offset: 5, Length: 60, RawLength: 1000}}), uint64(65))
	f.Add(EncodeHeader(nil, Version, []Entry{
		{Type: DataBlob, ID: id, Length: 50, RawLength: 10},
		{Type: DataBlob, Flags: FlagZstd | FlagGroup, ID: id, Offset: 50, Length: 60, RawLength: 100},
		{Type: DataBlob, Flags: FlagZstd | FlagGroup, ID: id, Offset: 50, Length: 60, RawLength: 7, Inner: 100},
		{Type: DataBlob, Flags: FlagGroup, ID: id, Offset: 110, Length: 60, RawLength: 7, Inner: 3},
	}), uint64(200))
	f.Fuzz(func(t *testing.T, b []byte, dataEnd uint64) {
		entries, err := DecodeHeader(b, dataEnd)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		again, err := DecodeHeader(EncodeHeader(nil, b[0], entries), dataEnd)
		if err != nil || len(again) != len(entries) {
			t.Fatalf("re-encoded header does not parse: %v", err)
		}
	})
}

func BenchmarkWriter(b *testing.B) {
	k := testKey(b)
	data := make([]byte, 1<<20, 1<<20+crypto.TagSize) // room to seal in place
	rand.Read(data)
	id := k.BlobID(data)
	b.SetBytes(16 << 20)
	b.ReportAllocs()
	for b.Loop() {
		w, _ := NewWriter(k, io.Discard)
		for range 16 {
			_ = w.Add(DataBlob, id, 0, data, len(data)) // encrypts data in place; fine for a benchmark
		}
		w.Finish()
	}
}

func BenchmarkCompress(b *testing.B) {
	text := bytes.Repeat([]byte("func (w *Writer) Add(t BlobType, id crypto.ID) error { return nil }\n"), 16<<10)[:1<<20]
	random := make([]byte, 1<<20)
	rand.Read(random)
	for _, in := range []struct {
		name string
		data []byte
	}{{"text", text}, {"random", random}, {"small-text", text[:3000]}, {"small-random", random[:4096]}} {
		b.Run(in.name, func(b *testing.B) {
			c := NewCompressor(CompressionAuto)
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				c.Compress(in.data)
			}
		})
	}
}

// TestTamperingIsErrAuth: a blob that fails authentication is ErrCorrupt
// and, in the same chain, crypto.ErrAuth.
func TestTamperingIsErrAuth(t *testing.T) {
	key, _ := crypto.NewRandomKey()
	var buf bytes.Buffer
	w, err := NewWriter(key, &buf)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("some content to seal")
	id := key.BlobID(data)
	if err := w.Add(DataBlob, id, 0, data, len(data)); err != nil {
		t.Fatal(err)
	}
	_, size, entries, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()[:size]
	e := entries[0]
	sealed := bytes.Clone(b[e.Offset : e.Offset+e.Length])
	sealed[len(sealed)/2] ^= 1
	_, err = OpenBlob(key, nil, e, sealed, nil)
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("OpenBlob of a tampered blob = %v; want ErrCorrupt and crypto.ErrAuth", err)
	}
}
