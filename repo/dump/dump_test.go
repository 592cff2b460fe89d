package dump_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/dump"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/tree"
)

// entry is what an archive says of one path.
type entry struct {
	mode    fs.FileMode
	content string // file content or link target
	mtime   int64  // seconds
}

// source describes the files under root as an archive of it named name
// should: hard links are left out (tar stores them as links, checked
// apart), sockets too.
func source(t *testing.T, root, name string, zipStyle bool) map[string]entry {
	out := map[string]entry{}
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		key := filepath.Join(name, rel)
		e := entry{mode: fi.Mode() &^ fs.ModeCharDevice, mtime: fi.ModTime().Unix()}
		switch {
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			e.content = string(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			e.content, _ = os.Readlink(p)
		case fi.IsDir():
		default:
			if zipStyle || fi.Mode()&fs.ModeSocket != 0 {
				return nil
			}
		}
		out[key] = e
		return nil
	})
	return out
}

func TestTarAndZip(t *testing.T) {
	r := repotest.New(t)
	src := filepath.Join(t.TempDir(), "src")
	fstest.Generate(t, src, 5)
	sn, err := backup.Run(t.Context(), r, backup.Options{Paths: []string{src}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := tree.Lookup(t.Context(), r, sn.Tree, src)
	if err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := dump.Archive(t.Context(), r, n, src, dump.Tar, &buf); err != nil {
		t.Fatal(err)
	}
	got := map[string]entry{}
	links := 0
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if h.Typeflag == tar.TypeLink {
			// A hard link names the first path of its inode.
			a, _ := os.Stat(filepath.Join(filepath.Dir(src), name))
			b, _ := os.Stat(filepath.Join(filepath.Dir(src), h.Linkname))
			if !os.SameFile(a, b) {
				t.Errorf("%s: hard link to %s, which is another file", name, h.Linkname)
			}
			links++
			continue
		}
		e := entry{mode: h.FileInfo().Mode() &^ fs.ModeCharDevice, mtime: h.ModTime.Unix()}
		if h.Typeflag == tar.TypeSymlink {
			e.content = h.Linkname
		} else if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			e.content = string(b)
		}
		got[name] = e
	}
	want := source(t, src, "src", false)
	// Of each group of hard links, one name carries the content and the
	// others are link entries (checked above).
	linked := 0
	for name := range want {
		fi, _ := os.Lstat(filepath.Join(filepath.Dir(src), name))
		if fi.Mode().IsRegular() && nlink(fi) > 1 {
			if _, ok := got[name]; !ok {
				delete(want, name)
				linked++
			}
		}
	}
	compare(t, "tar", got, want)
	if links == 0 || links != linked {
		t.Errorf("%d hard link entries in the tar; want %d (>0), one per name not archived with content", links, linked)
	}

	buf.Reset()
	if err := dump.Archive(t.Context(), r, n, src, dump.Zip, &buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]entry{}
	for _, f := range zr.File {
		e := entry{mode: f.Mode(), mtime: f.Modified.Unix()}
		if !f.Mode().IsDir() {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			e.content = string(b)
		}
		got[strings.TrimSuffix(f.Name, "/")] = e
	}
	compare(t, "zip", got, source(t, src, "src", true))
}

func compare(t *testing.T, what string, got, want map[string]entry) {
	t.Helper()
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g, ok := got[n]
		w := want[n]
		switch {
		case !ok:
			t.Errorf("%s: %q missing", what, n)
		case g.mode != w.mode:
			t.Errorf("%s: %q mode %v; want %v", what, n, g.mode, w.mode)
		case g.content != w.content:
			t.Errorf("%s: %q content differs (%d bytes; want %d)", what, n, len(g.content), len(w.content))
		case g.mtime != w.mtime:
			t.Errorf("%s: %q mtime %d; want %d", what, n, g.mtime, w.mtime)
		}
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			t.Errorf("%s: unexpected %q", what, n)
		}
	}
}

func nlink(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
