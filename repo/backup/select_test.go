package backup_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/filter"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
)

// stored lists the paths under root that sn holds, relative to root.
func stored(t *testing.T, r *repo.Repository, sn *snapshot.Snapshot, root string) []string {
	t.Helper()
	n, err := tree.Lookup(t.Context(), r, sn.Tree, root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = tree.Walk(t.Context(), r, n.Subtree, "", func(p string, n *tree.Node) error {
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func backupWith(t *testing.T, r *repo.Repository, src string, ex backup.Excludes) *snapshot.Snapshot {
	t.Helper()
	sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}, Excludes: ex})
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func TestExcludes(t *testing.T) {
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{
		"keep.txt":               "k",
		"a.tmp":                  "t",
		"Photo.JPG":              "p",
		"sub/b.tmp":              "t",
		"sub/keep.go":            "g",
		"build/out.o":            "o",
		"build/important/x":      "x",
		"cache/CACHEDIR.TAG":     backup.CacheDirTag.Header + "\n",
		"cache/blob":             "c",
		"fakecache/CACHEDIR.TAG": "not a tag",
		"marked/.nobackup":       "",
		"marked/data":            "d",
		"big":                    strings.Repeat("b", 5000),
	})
	pat := func(ps ...string) *filter.List {
		l, err := filter.NewList(ps, false)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	ipat, _ := filter.NewList([]string{"*.jpg"}, true)
	cases := []struct {
		name string
		ex   backup.Excludes
		gone []string
	}{
		{"exclude", backup.Excludes{Patterns: pat("*.tmp")}, []string{"a.tmp", "sub/b.tmp"}},
		{"anchored", backup.Excludes{Patterns: pat(src + "/build")}, []string{"build", "build/important", "build/important/x", "build/out.o"}},
		{"negation", backup.Excludes{Patterns: pat(src+"/build", "!"+src+"/build/important")}, []string{"build/out.o"}},
		{"iexclude", backup.Excludes{Patterns: ipat}, []string{"Photo.JPG"}},
		{"if-present", backup.Excludes{IfPresent: []backup.Marker{{Name: ".nobackup"}}}, []string{"marked", "marked/.nobackup", "marked/data"}},
		{"caches", backup.Excludes{IfPresent: []backup.Marker{backup.CacheDirTag}}, []string{"cache", "cache/CACHEDIR.TAG", "cache/blob"}},
		{"larger-than", backup.Excludes{LargerThan: 4096}, []string{"big"}},
	}
	all := stored(t, r, backupWith(t, r, src, backup.Excludes{}), src)
	for _, c := range cases {
		got := stored(t, r, backupWith(t, r, src, c.ex), src)
		var want []string
		for _, p := range all {
			gone := false
			for _, g := range c.gone {
				if p == g {
					gone = true
				}
			}
			if !gone {
				want = append(want, p)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: stored %v\nwant %v", c.name, got, want)
		}
	}
}

// TestGitIgnore compares --git-ignore with git itself on a generated
// work tree with nested .gitignore files, negation, anchoring, directory
// patterns and "**".
func TestGitIgnore(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	r := repotest.New(t)
	parent := t.TempDir()
	src := filepath.Join(parent, "work")
	files := map[string]string{
		".gitignore": "*.log\n!keep.log\n/build/\ndocs/**/*.html\ntmp*\n# comment\n\\#hash\nspace\\ \n*.o\n!src/vendor/*.o\nnode_modules/\na/**/b/c\n",
		"main.go":    "", "debug.log": "", "keep.log": "", "#hash": "", "space ": "",
		"build/app": "", "src/build/app": "",
		"docs/x.html": "", "docs/a/y.html": "", "docs/a/b/z.html": "", "docs/a/readme.md": "",
		"tmpfile": "", "src/tmpdir/x": "",
		"src/x.o": "", "src/vendor/y.o": "", "src/vendor/z.c": "",
		"web/node_modules/m.js": "", "web/node_modules": "", // file named like the directory pattern, elsewhere
		"a/b/c": "", "a/x/b/c": "", "a/b/x/b/c": "", "a/b/c2": "",
		"sub/.gitignore": "*.txt\n!important.txt\n/local\nlib/\n",
		"sub/a.txt":      "", "sub/important.txt": "", "sub/local": "", "sub/deeper/local": "",
		"sub/deeper/b.txt": "", "sub/lib/x": "", "sub/deeper/lib": "",
		"sub/deeper/.gitignore": "!b.txt\n*.md\n",
		"sub/deeper/notes.md":   "", "sub/deeper/c.log": "",
	}
	delete(files, "web/node_modules") // cannot be both; keep the directory
	fstest.WriteFiles(t, src, files)
	if out, err := exec.Command("git", "init", "-q", src).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	// Every path in the tree, files and directories.
	var all []string
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(src, p)
		if rel == "." || rel == ".git" || strings.HasPrefix(rel, ".git/") {
			return nil
		}
		all = append(all, rel)
		return nil
	})
	cmd := exec.Command("git", "-C", src, "check-ignore", "--no-index", "--stdin")
	cmd.Stdin = strings.NewReader(strings.Join(all, "\n") + "\n")
	out, _ := cmd.Output() // exit 1 when nothing is ignored
	ignored := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		ignored[l] = true
	}
	var want []string
	for _, p := range all {
		keep := true
		for q := p; q != "."; q = filepath.Dir(q) {
			if ignored[q] {
				keep = false
			}
		}
		if keep {
			want = append(want, p)
		}
	}
	want = append(want, ".git")
	sort.Strings(want)
	got := stored(t, r, backupWith(t, r, src, backup.Excludes{GitIgnore: true}), src)
	var gotNoGit []string
	for _, p := range got {
		if !strings.HasPrefix(p, ".git/") {
			gotNoGit = append(gotNoGit, p)
		}
	}
	t.Logf("git ignores %d of %d paths; %d kept", len(ignored), len(all), len(want))
	if fmt.Sprint(gotNoGit) != fmt.Sprint(want) {
		t.Errorf("--git-ignore stored\n%v\ngit keeps\n%v", gotNoGit, want)
	}
	if !bytes.Contains(out, []byte("debug.log")) {
		t.Fatalf("git check-ignore output looks wrong: %s", out)
	}
}

// TestOneFileSystem mounts a tmpfs inside the backup path (as root): with
// OneFileSystem the mount point is kept, empty.
func TestOneFileSystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	r := repotest.New(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"a": "a", "mnt/.keep": ""})
	mnt := filepath.Join(src, "mnt")
	if out, err := exec.Command("mount", "-t", "tmpfs", "none", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	fstest.WriteFiles(t, src, map[string]string{"mnt/inside": "i"})
	got := stored(t, r, backupWith(t, r, src, backup.Excludes{OneFileSystem: true}), src)
	if fmt.Sprint(got) != "[a mnt]" {
		t.Errorf("one file system stored %v; want [a mnt]", got)
	}
	got = stored(t, r, backupWith(t, r, src, backup.Excludes{}), src)
	if fmt.Sprint(got) != "[a mnt mnt/inside]" {
		t.Errorf("crossing file systems stored %v; want [a mnt mnt/inside]", got)
	}
}
