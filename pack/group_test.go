package pack

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/arcabackup/arca/crypto"
)

// groupPack writes a pack of a single blob, a compressed group of
// members, an uncompressed group and another single blob, and returns
// it, its entries and the plaintext of every entry's blob.
func groupPack(t *testing.T, k *crypto.Key) ([]byte, []Entry, map[crypto.ID][]byte) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(k, &buf)
	if err != nil {
		t.Fatal(err)
	}
	plain := map[crypto.ID][]byte{}
	single := func(data []byte) {
		id := k.BlobID(data)
		plain[id] = data
		if err := w.Add(DataBlob, id, 0, bytes.Clone(data), len(data)); err != nil {
			t.Fatal(err)
		}
	}
	group := func(flags uint8, blobs ...[]byte) {
		var all []byte
		var members []Entry
		for _, b := range blobs {
			id := k.BlobID(b)
			plain[id] = b
			members = append(members, Entry{ID: id, Inner: uint32(len(all)), RawLength: uint32(len(b))})
			all = append(all, b...)
		}
		payload := all
		if flags&FlagZstd != 0 {
			payload, flags = NewCompressor(CompressionAuto).Compress(all)
			if flags == 0 {
				t.Fatal("the group did not compress")
			}
		}
		if err := w.AddGroup(DataBlob, flags, bytes.Clone(payload), members); err != nil {
			t.Fatal(err)
		}
	}
	single([]byte("first, alone"))
	var texts [][]byte
	for i := range 50 {
		texts = append(texts, fmt.Appendf(nil, "file %d: the same words in every small file, %d", i, i*i))
	}
	group(FlagZstd, texts...)
	group(0, []byte("raw one"), []byte("raw two"))
	single([]byte("last, alone"))
	_, size, entries, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(buf.Len()) {
		t.Fatalf("size %d, wrote %d", size, buf.Len())
	}
	return buf.Bytes(), entries, plain
}

func TestGroup(t *testing.T) {
	k := testKey(t)
	data, entries, plain := groupPack(t, k)
	got, err := ReadHeader(k, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, entries) {
		t.Fatalf("header entries differ from the writer's:\n%v\n%v", got, entries)
	}
	if n := len(entries); n != 54 || entries[1].Flags != FlagZstd|FlagGroup || entries[51].Flags != FlagGroup || entries[53].Grouped() {
		t.Fatalf("%d entries, flags %#x %#x", n, entries[1].Flags, entries[51].Flags)
	}
	o := NewOpener(k, k.NewIDHasher())
	for _, e := range entries {
		sealed := data[e.Offset : e.Offset+e.Length]
		one, err := OpenBlob(k, nil, e, sealed, nil)
		if err != nil || !bytes.Equal(one, plain[e.ID]) {
			t.Fatalf("OpenBlob %s: %q, %v; want %q", e.ID.Short(), one, err, plain[e.ID])
		}
		kept, err := o.Open(e, sealed, []byte("x"))
		if err != nil || !bytes.Equal(kept[1:], plain[e.ID]) || kept[0] != 'x' {
			t.Fatalf("Opener %s: %q, %v", e.ID.Short(), kept, err)
		}
	}
	// The group's shares add up to its sealed length.
	var sum int64
	for i, s := range Shares(entries) {
		if entries[i].Offset == entries[1].Offset {
			sum += s
		}
	}
	if diff := int64(entries[1].Length) - sum; diff < 0 || diff >= 50 {
		t.Errorf("the members' shares sum to %d of the group's %d bytes", sum, entries[1].Length)
	}

	// A member read with another's place fails its hash; a damaged group
	// fails every member, and the Opener does not keep it.
	e := entries[2]
	e.Inner = entries[3].Inner
	if _, err := OpenBlob(k, nil, e, data[e.Offset:e.Offset+e.Length], nil); !errors.Is(err, ErrBlobMismatch) {
		t.Errorf("member at another's place: %v; want ErrBlobMismatch", err)
	}
	e.Inner = 1 << 20
	if _, err := OpenBlob(k, nil, e, data[e.Offset:e.Offset+e.Length], nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("member past its group's end: %v; want ErrCorrupt", err)
	}
	bad := bytes.Clone(data)
	bad[entries[1].Offset+30] ^= 1
	o.Reset()
	for _, e := range entries[1:51] {
		if _, err := o.Open(e, bad[e.Offset:e.Offset+e.Length], nil); !errors.Is(err, crypto.ErrAuth) {
			t.Fatalf("member of a damaged group: %v; want ErrAuth", err)
		}
	}
	// A group is not a single blob: its sealed bytes do not open as one.
	e = entries[51]
	e.Flags &^= FlagGroup
	e.RawLength = e.Length - crypto.Overhead
	if _, err := OpenBlob(k, nil, e, data[e.Offset:e.Offset+e.Length], nil); !errors.Is(err, crypto.ErrAuth) {
		t.Errorf("group opened as a blob: %v; want ErrAuth", err)
	}
}

func TestGroupHeaderVersion(t *testing.T) {
	k := testKey(t)
	data, _, _ := groupPack(t, k)
	hdr := headerPlain(t, k, data)
	if hdr[0] != Version {
		t.Errorf("a pack with groups has header version %d; want %d", hdr[0], Version)
	}
	plainPack, _ := buildPack(t, k, testBlobs())
	if v := headerPlain(t, k, plainPack)[0]; v != Version1 {
		t.Errorf("a pack without groups has header version %d; want %d (readable by arca before groups)", v, Version1)
	}
}

func headerPlain(t *testing.T, k *crypto.Key, data []byte) []byte {
	t.Helper()
	n := len(data)
	hlen := int(uint32(data[n-4]) | uint32(data[n-3])<<8 | uint32(data[n-2])<<16 | uint32(data[n-1])<<24)
	plain, err := k.Open(nil, data[n-4-hlen:n-4], crypto.AD(nil, crypto.KindPackHeader, nil))
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

func TestDecodeGroupRejects(t *testing.T) {
	id := crypto.Hash([]byte("x"))
	m := func(flags uint8, off, length, raw, inner uint32) Entry {
		return Entry{Type: DataBlob, Flags: flags | FlagGroup, ID: id, Offset: off, Length: length, RawLength: raw, Inner: inner}
	}
	z := FlagZstd
	cases := map[string]struct {
		version byte
		entries []Entry
	}{
		"group in version 1":        {Version1, []Entry{m(z, 0, 50, 10, 0)}},
		"members out of order":      {Version, []Entry{m(z, 0, 50, 10, 10), m(z, 0, 50, 10, 0)}},
		"members overlap":           {Version, []Entry{m(z, 0, 50, 10, 0), m(z, 0, 50, 10, 5)}},
		"flags differ in a group":   {Version, []Entry{m(z, 0, 50, 5, 0), m(0, 0, 50, 5, 5)}},
		"types differ in a group":   {Version, []Entry{m(z, 0, 50, 5, 0), {Type: TreeBlob, Flags: z | FlagGroup, ID: id, Length: 50, RawLength: 5, Inner: 5}}},
		"raw member past the group": {Version, []Entry{m(0, 0, 50, 11, 0)}},
		"member past the maximum":   {Version, []Entry{m(z, 0, 50, 10, MaxGroupSize)}},
		"group overlaps a blob":     {Version, []Entry{m(z, 0, 50, 10, 0), {Type: DataBlob, ID: id, Offset: 40, Length: 50, RawLength: 10}}},
		"group past the data":       {Version, []Entry{m(z, 60, 50, 10, 0)}},
	}
	for name, c := range cases {
		if _, err := DecodeHeader(EncodeHeader(nil, c.version, c.entries), 100); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v; want ErrCorrupt", name, err)
		}
	}
	good := []Entry{m(z, 0, 50, 10, 0), m(z, 0, 50, 1000, 10), m(0, 50, 50, 10, 0)}
	if got, err := DecodeHeader(EncodeHeader(nil, Version, good), 100); err != nil || !reflect.DeepEqual(got, good) {
		t.Errorf("good groups: %v, %v", got, err)
	}
}
