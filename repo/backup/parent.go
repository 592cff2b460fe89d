package backup

import (
	"fmt"

	"github.com/arcabackup/arca/repo/snapshot"
)

// IsFull reports whether sn is a full backup: one taken with kind full or
// without a parent, so that every file was read.
func IsFull(sn *snapshot.Snapshot) bool {
	return sn.Kind == snapshot.KindFull || sn.Parent == nil
}

// ChooseParent picks the parent of a new backup of paths (already cleaned
// with CleanPaths) on host, from list (oldest first):
//
//   - incremental: the latest snapshot of the same host and paths;
//   - differential: the latest full snapshot of the same host and paths;
//   - full: none.
//
// A nil result means every file is read.
func ChooseParent(list []*snapshot.Snapshot, kind, host string, paths []string) (*snapshot.Snapshot, error) {
	same := snapshot.Filter{Hosts: []string{host}, Paths: paths}.Select(list)
	switch kind {
	case snapshot.KindFull:
		return nil, nil
	case snapshot.KindIncremental, "":
		if len(same) == 0 {
			return nil, nil
		}
		return same[len(same)-1], nil
	case snapshot.KindDifferential:
		for i := len(same) - 1; i >= 0; i-- {
			if IsFull(same[i]) {
				return same[i], nil
			}
		}
		return nil, nil
	}
	return nil, fmt.Errorf("backup: unknown kind %q (want incremental, differential or full)", kind)
}

// RecordedKind is the kind a snapshot records: a backup without a parent
// read every file, so it is full whatever was asked.
func RecordedKind(kind string, parent *snapshot.Snapshot) string {
	if parent == nil {
		return snapshot.KindFull
	}
	if kind == "" {
		return snapshot.KindIncremental
	}
	return kind
}
