package find_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/find"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/repotest"
)

func TestFind(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	files := map[string]string{}
	for _, name := range []string{"main.go", "README.md", "pkg/util.go", "pkg/Util_test.go", "docs/guide.md", "docs/go/x.txt"} {
		files[name] = name
	}
	fstest.WriteFiles(t, src, files)
	sn1, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(src, "pkg/util.go"))
	sn2, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		patterns []string
		fold     bool
		want1    []string
	}{
		{[]string{"*.go"}, false, []string{"main.go", "pkg/Util_test.go", "pkg/util.go"}},
		{[]string{"util*"}, true, []string{"pkg/Util_test.go", "pkg/util.go"}},
		{[]string{"docs"}, false, []string{"docs"}},
		{[]string{"docs/*"}, false, []string{"docs/go", "docs/guide.md"}},
		{[]string{src + "/*.md"}, false, []string{"README.md"}},
		{[]string{"go", "*.txt"}, false, []string{"docs/go", "docs/go/x.txt"}},
		{[]string{"nothing"}, false, nil},
		{[]string{"!*.go"}, false, []string{"error"}},
	} {
		f, err := find.New(r, c.patterns, c.fold)
		if slices.Equal(c.want1, []string{"error"}) {
			if err == nil {
				t.Errorf("%q accepted", c.patterns)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		rel := func(ms []find.Match) []string {
			var out []string
			for _, m := range ms {
				out = append(out, strings.TrimPrefix(m.Path, src+"/"))
			}
			return out
		}
		m1, err := f.Find(t.Context(), sn1.Tree)
		if err != nil {
			t.Fatal(err)
		}
		if got := rel(m1); !slices.Equal(got, c.want1) {
			t.Errorf("%q in the first snapshot: %q; want %q", c.patterns, got, c.want1)
		}
		want2 := slices.DeleteFunc(slices.Clone(c.want1), func(s string) bool { return s == "pkg/util.go" })
		m2, err := f.Find(t.Context(), sn2.Tree)
		if err != nil {
			t.Fatal(err)
		}
		if got := rel(m2); !slices.Equal(got, want2) {
			t.Errorf("%q in the second snapshot: %q; want %q", c.patterns, got, want2)
		}
	}
}
