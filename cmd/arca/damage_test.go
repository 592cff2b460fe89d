package main_test

import (
	"archive/tar"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/arcabackup/arca/index"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend/local"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
)

// One damaged or missing object never takes down the rest: these tests
// damage one object each and check that every command skips it, names
// it, exits 3, and serves everything else; and that lost or damaged packs
// heal with the next backup.

// repoFiles lists the files of one kind ("data", "index", "snapshots",
// "keys") of a local repository, largest first.
func repoFiles(t *testing.T, repoDir, kind string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(repoDir, kind), func(p string, d os.DirEntry, err error) error {
		if d != nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			out = append(out, p)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return fileSize(out[i]) > fileSize(out[j]) })
	return out
}

func flipAt(t *testing.T, p string, off int64) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(data))
	}
	data[off] ^= 0x10
	os.Chmod(p, 0o600)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// repoWithFiles makes a repository and a source directory "src" holding n
// random files of size bytes.
func (e *env) repoWithFiles(n, size int, seed byte) (repoDir, src string) {
	e.t.Helper()
	repoDir = e.initRepo()
	src = filepath.Join(e.dir, "src")
	randomFiles(e.t, src, n, size, seed)
	return repoDir, src
}

// randomFiles writes n incompressible files of size bytes into dir.
func randomFiles(t *testing.T, dir string, n, size int, seed byte) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	for i := range n {
		data := make([]byte, size)
		rand.NewChaCha8([32]byte{seed, byte(i)}).Read(data)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) restoreAndCompare(repoDir, snap, src string, extra ...string) result {
	e.t.Helper()
	target, _ := os.MkdirTemp(e.dir, "target-")
	r := e.run(append([]string{"-r", repoDir, "restore", snap, "--target", target}, extra...)...)
	fstest.Compare(e.t, src, filepath.Join(target, src))
	return r
}

// TestLostPackHeals deletes a data pack; the next backup (incremental or
// --force) notices, stores the lost blobs again, and its snapshot
// restores in full, and so does the old one.
func TestLostPackHeals(t *testing.T) {
	for _, args := range [][]string{nil, {"--force"}} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			e := newEnv(t)
			repoDir := e.initRepo()
			src := filepath.Join(e.dir, "src")
			randomFiles(t, src, 6, 5<<20, 1) // 30 MiB: two data packs
			e.must("-r", repoDir, "backup", "--compression", "off", src)
			packs := repoFiles(t, repoDir, "data")
			if err := os.Remove(packs[0]); err != nil {
				t.Fatal(err)
			}
			r := e.must(append([]string{"-r", repoDir, "backup", "--compression", "off", src}, args...)...)
			if !strings.Contains(r.stderr, filepath.Base(packs[0])[:8]) || !strings.Contains(r.stderr, "missing") {
				t.Errorf("backup does not report the missing pack %s:\n%s", filepath.Base(packs[0])[:8], r.stderr)
			}
			if r := e.restoreAndCompare(repoDir, "latest", src); r.code != 0 {
				t.Errorf("restore of the new snapshot: exit %d\n%s", r.code, r.stderr)
			}
			list := e.snapshots(repoDir)
			if r := e.restoreAndCompare(repoDir, list[0]["id"].(string), src); r.code != 0 {
				t.Errorf("restore of the first snapshot after healing: exit %d\n%s", r.code, r.stderr)
			}
		})
	}
}

// TestDamagedSnapshotFile: snapshots, ls and restore of the other
// snapshots work, name the damaged file and exit 3.
func TestDamagedSnapshotFile(t *testing.T) {
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(3, 10000, 2)
	e.must("-r", repoDir, "backup", "--tag", "first", src)
	first := e.snapshots(repoDir)[0]["id"].(string)
	e.must("-r", repoDir, "backup", "--tag", "second", src)
	var damaged string
	for _, p := range repoFiles(t, repoDir, "snapshots") {
		if filepath.Base(p) != first {
			damaged = p
		}
	}
	flipAt(t, damaged, 20)
	name := filepath.Base(damaged)
	for _, args := range [][]string{{"snapshots"}, {"ls", first}, {"restore", first, "--target", filepath.Join(e.dir, "t")}} {
		r := e.run(append([]string{"-r", repoDir}, args...)...)
		if r.code != 3 || !strings.Contains(r.stderr, "snapshots/"+name) {
			t.Errorf("%s: exit %d; want 3 and a warning naming snapshots/%s\n%s", args[0], r.code, name, r.stderr)
		}
		if args[0] == "snapshots" && !strings.Contains(r.stdout, first[:8]) {
			t.Errorf("snapshots does not list the undamaged snapshot:\n%s", r.stdout)
		}
	}
	fstest.Compare(t, src, filepath.Join(e.dir, "t", src))
}

// TestDamagedIndexFile: without a warm cache, a damaged index file is
// named, the packs it listed are indexed from their headers, and
// everything restores.
func TestDamagedIndexFile(t *testing.T) {
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(3, 100000, 3)
	e.must("-r", repoDir, "backup", src)
	idx := repoFiles(t, repoDir, "index")
	flipAt(t, idx[0], 30)
	name := filepath.Base(idx[0])
	r := e.run("-r", repoDir, "--no-cache", "snapshots")
	if r.code != 3 || !strings.Contains(r.stderr, "index/"+name) {
		t.Errorf("snapshots: exit %d; want 3 and a warning naming index/%s\n%s", r.code, name, r.stderr)
	}
	if r := e.restoreAndCompare(repoDir, "latest", src, "--no-cache"); r.code != 3 || !strings.Contains(r.stderr, name) {
		t.Errorf("restore: exit %d; want 3 naming the index file\n%s", r.code, r.stderr)
	}
	// A host whose cache is cold meets the damage once, rebuilds, and keeps
	// telling it on later runs. (A cache that loaded the file before it
	// was damaged never reads it again: only check can find that.)
	os.RemoveAll(filepath.Join(e.dir, "cache"))
	for range 2 {
		if r := e.restoreAndCompare(repoDir, "latest", src); r.code != 3 || !strings.Contains(r.stderr, name) {
			t.Errorf("restore with a cache: exit %d; want 3 naming the index file\n%s", r.code, r.stderr)
		}
	}
}

// TestDamagedTreeReaders: ls, find, diff and dump skip a directory whose
// tree is damaged, name it, list the rest and exit 3.
func TestDamagedTreeReaders(t *testing.T) {
	e := newEnv(t)
	repoDir := e.initRepo()
	src := filepath.Join(e.dir, "src")
	fstest.WriteFiles(t, src, map[string]string{"bad/one.txt": "1", "bad/sub/two.txt": "2", "good/three.txt": "3"})
	e.must("-r", repoDir, "backup", src)
	fstest.WriteFiles(t, src, map[string]string{"good/four.txt": "4", "bad/five.txt": "5"})
	e.must("-r", repoDir, "backup", src)

	be, err := local.Open(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(t.Context(), be, []byte("pw"), repo.OpenOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	list := e.snapshots(repoDir)
	latest := list[1]["id"].(string)
	snaps, _ := snapshot.List(t.Context(), r)
	sn, err := snapshot.Find(snaps, latest)
	if err != nil {
		t.Fatal(err)
	}
	n, err := tree.Lookup(t.Context(), r, sn.Tree, filepath.Join(src, "bad"))
	if err != nil {
		t.Fatal(err)
	}
	repotest.FlipBlobByte(t, r, pack.TreeBlob, n.Subtree)
	r.Close()

	bad := filepath.Join(src, "bad")
	for _, c := range []struct {
		args []string
		want string // in the output
	}{
		{[]string{"ls", "latest"}, "good/four.txt"},
		{[]string{"find", "*.txt"}, "good/three.txt"},
		{[]string{"diff", list[0]["id"].(string), latest}, "good/four.txt"},
		{[]string{"dump", "latest:" + src, "--archive", "tar"}, "good/four.txt"},
		{[]string{"stats", "latest"}, "Total"},
	} {
		res := e.run(append([]string{"-r", repoDir, "--no-cache"}, c.args...)...)
		out := res.stdout
		if c.args[0] == "dump" {
			out = tarNames(t, res.stdout)
		}
		if res.code != 3 || !strings.Contains(res.stderr, bad) || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, output has %q: %v; want exit 3, a warning naming %s and the rest\nstderr: %s",
				c.args[0], res.code, c.want, strings.Contains(out, c.want), bad, res.stderr)
		}
	}
}

func tarNames(t *testing.T, s string) string {
	var names []string
	tr := tar.NewReader(strings.NewReader(s))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("tar: %v", err)
			break
		}
		names = append(names, h.Name)
	}
	return strings.Join(names, "\n")
}

// TestTruncatedPack: a pack whose tail was cut restores (its blobs are
// intact) but is reported; the next backup stores its blobs again.
func TestTruncatedPack(t *testing.T) {
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(4, 200000, 4)
	e.must("-r", repoDir, "backup", "--compression", "off", src)
	p := repoFiles(t, repoDir, "data")[0]
	if err := os.Truncate(p, fileSize(p)-3); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(p)
	if r := e.restoreAndCompare(repoDir, "latest", src); r.code != 3 || !strings.Contains(r.stderr, name) {
		t.Errorf("restore: exit %d; want 3 and the pack named\n%s", r.code, r.stderr)
	}
	r := e.must("-r", repoDir, "--json", "backup", "--compression", "off", src)
	if !strings.Contains(r.stdout, name[:8]) {
		t.Errorf("backup does not report the short pack:\n%s", r.stdout)
	}
	if added := lastSummaryMap(t, r.stdout)["data_added"].(float64); added < 4*200000 {
		t.Errorf("backup added %v bytes; want the pack's blobs stored again", added)
	}
	if r := e.restoreAndCompare(repoDir, "latest", src); r.code != 0 {
		t.Errorf("restore after the backup: exit %d\n%s", r.code, r.stderr)
	}
}

// TestStrayPackFile: a pack-like file in the wrong data/ subdirectory is
// reported and does not stop a backup.
func TestStrayPackFile(t *testing.T) {
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(2, 1000, 5)
	e.must("-r", repoDir, "backup", src)
	p := repoFiles(t, repoDir, "data")[0]
	name := filepath.Base(p)
	wrong := "00"
	if strings.HasPrefix(name, "00") {
		wrong = "01"
	}
	data, _ := os.ReadFile(p)
	stray := filepath.Join(repoDir, "data", wrong, strings.Repeat("9", 64))
	os.WriteFile(stray, data, 0o600)
	r := e.must("-r", repoDir, "backup", src)
	if !strings.Contains(r.stderr, stray) {
		t.Errorf("backup does not report %s:\n%s", stray, r.stderr)
	}
	if r := e.restoreAndCompare(repoDir, "latest", src); r.code != 0 {
		t.Errorf("restore: exit %d\n%s", r.code, r.stderr)
	}
}

// TestDamagedBlobHeals: a blob restore found damaged is not deduplicated
// against by the next backup, which stores it again.
func TestDamagedBlobHeals(t *testing.T) {
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(3, 300000, 6)
	e.must("-r", repoDir, "backup", "--compression", "off", src)
	flipAt(t, repoFiles(t, repoDir, "data")[0], 1000) // inside the first blob
	target := filepath.Join(e.dir, "t1")
	if r := e.run("-r", repoDir, "restore", "latest", "--target", target); r.code != 3 || !strings.Contains(r.stderr, "corrupt") {
		t.Fatalf("restore of a damaged blob: exit %d\n%s", r.code, r.stderr)
	}
	r := e.must("-r", repoDir, "--json", "backup", "--compression", "off", src)
	if added := lastSummaryMap(t, r.stdout)["data_added"].(float64); added < 300000 || added > 2*300000 {
		t.Errorf("backup added %v bytes; want the damaged file's blob stored again (300000)", added)
	}
	if r := e.restoreAndCompare(repoDir, "latest", src); r.code != 0 {
		t.Errorf("restore after the backup: exit %d\n%s", r.code, r.stderr)
	}
}

// TestStaleTemporariesRemoved: a write session removes the temporary files
// killed writers left in the repository and their private caches, once
// they are older than any live writer's, and leaves recent ones.
func TestStaleTemporariesRemoved(t *testing.T) {
	e := newEnv(t)
	repoDir, src := e.repoWithFiles(1, 1000, 7)
	tmp := filepath.Join(e.dir, "tmp")
	os.MkdirAll(tmp, 0o700)
	old := time.Now().Add(-2 * time.Hour)
	var stale, fresh []string
	for _, dir := range []string{"data/ab", "snapshots", "index", "."} {
		for _, age := range []string{"stale", "fresh"} {
			p := filepath.Join(repoDir, dir, ".tmp-"+age+"0123")
			os.WriteFile(p, []byte("partial"), 0o600)
			if age == "stale" {
				os.Chtimes(p, old, old)
				stale = append(stale, p)
			} else {
				fresh = append(fresh, p)
			}
		}
	}
	for _, age := range []string{"stale", "fresh"} {
		dir := filepath.Join(tmp, "arca-cache-"+age)
		db, err := index.OpenDB(dir)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if age == "stale" {
			os.Chtimes(dir, old, old)
			stale = append(stale, dir)
		} else {
			fresh = append(fresh, dir)
		}
	}
	if r := e.runEnv([]string{"TMPDIR=" + tmp}, "-r", repoDir, "backup", src); r.code != 0 {
		t.Fatalf("backup: exit %d\n%s", r.code, r.stderr)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("stale %s was not removed", p)
		}
	}
	for _, p := range fresh {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("recent %s was removed", p)
		}
	}
}
