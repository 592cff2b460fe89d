package tree_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
)

func TestDiff(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	put := func(name, content string) { fstest.WriteFiles(t, src, map[string]string{name: content}) }
	fstest.WriteFiles(t, src, map[string]string{"a": "alpha", "b": "beta", "d/e": "epsilon", "same/x": "unchanged", "t": "becomes a directory"})
	must(os.Symlink("a", filepath.Join(src, "link")))
	old := time.Unix(1_700_000_000, 0)
	must(os.Chtimes(filepath.Join(src, "b"), old, old))
	snap := func() *snapshot.Snapshot {
		sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
		must(err)
		return sn
	}
	s1 := snap()

	put("a", "alpha, longer now")
	must(os.Chmod(filepath.Join(src, "b"), 0o600))
	must(os.Remove(filepath.Join(src, "d/e")))
	put("d/f", "phi")
	put("n/x", "new dir")
	must(os.Remove(filepath.Join(src, "link")))
	must(os.Symlink("b", filepath.Join(src, "link")))
	must(os.Remove(filepath.Join(src, "t")))
	put("t/inside", "in the new directory")
	s2 := snap()

	var got []string
	counter := tree.NewDiffCounter()
	err := tree.Diff(t.Context(), r, s1.Tree, s2.Tree, func(c tree.Change) error {
		rel, _ := filepath.Rel(src, c.Path)
		got = append(got, fmt.Sprintf("%c %s", c.Kind, rel))
		counter.Add(c)
		return nil
	})
	must(err)
	want := []string{"M a", "U b", "- d/e", "+ d/f", "M link", "+ n", "+ n/x", "T t", "+ t/inside"}
	// Directories whose contents changed (d, src and its ancestors) show
	// no change of their own.
	if !slices.Equal(got, want) {
		t.Errorf("diff:\n got %q\nwant %q", got, want)
	}
	st, err := counter.Stats(r)
	must(err)
	if st.ChangedFiles != 4 || st.Added.Files != 3 || st.Added.Dirs != 2 || st.Removed.Files != 2 || st.Removed.Dirs != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Added.DataBlobs != 4 || st.Added.Bytes != int64(len("alpha, longer now")+len("phi")+len("new dir")+len("in the new directory")) {
		t.Errorf("added blobs %d, %d bytes", st.Added.DataBlobs, st.Added.Bytes)
	}
	if st.Removed.DataBlobs != 3 || st.Removed.Bytes != int64(len("alpha")+len("epsilon")+len("becomes a directory")) {
		t.Errorf("removed blobs %d, %d bytes", st.Removed.DataBlobs, st.Removed.Bytes)
	}
	// The same tree has no differences, and the diff is symmetric.
	n := 0
	must(tree.Diff(t.Context(), r, s2.Tree, s2.Tree, func(tree.Change) error { n++; return nil }))
	if n != 0 {
		t.Errorf("%d changes between a tree and itself", n)
	}
	var back []string
	must(tree.Diff(t.Context(), r, s2.Tree, s1.Tree, func(c tree.Change) error {
		back = append(back, string(c.Kind))
		return nil
	}))
	if len(back) != len(want) {
		t.Errorf("reverse diff has %d changes; want %d", len(back), len(want))
	}
}
