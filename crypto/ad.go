package crypto

// FormatVersion is the repository format version bound into every sealed
// message's associated data.
const FormatVersion = 1

// Kind says what a sealed message holds. Kinds are bound into the associated
// data so that no sealed message can be read as another kind.
type Kind byte

// The kinds of sealed messages. Values are part of the format (docs/format.md).
const (
	KindDataBlob   Kind = 1
	KindTreeBlob   Kind = 2
	KindPackHeader Kind = 3
	KindConfig     Kind = 4
	KindIndex      Kind = 5
	KindSnapshot   Kind = 6
	KindMaster     Kind = 7
	KindLock       Kind = 8
	KindCandidates Kind = 9  // a prune's candidate list (format version 2)
	KindDataGroup  Kind = 10 // a group of small data blobs (format version 3)
	KindTreeGroup  Kind = 11 // a group of tree blobs (reserved; not written)
)

// AD returns the associated data "arca" | version | kind, followed by id for
// blobs. It appends to dst.
func AD(dst []byte, kind Kind, id *ID) []byte {
	dst = append(dst, 'a', 'r', 'c', 'a', FormatVersion, byte(kind))
	if id != nil {
		dst = append(dst, id[:]...)
	}
	return dst
}
