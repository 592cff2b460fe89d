package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend/local"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
)

// contents maps, per snapshot (oldest first), each file (relative to the
// source) to its blobs, and each directory to its tree.
type contents struct {
	fileBlobs []map[string][]crypto.ID
	dirTrees  []map[string]crypto.ID
}

func (f *corruptionFixture) contents(t *testing.T) contents {
	be, err := local.Open(f.repoDir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(t.Context(), be, []byte("pw"), repo.OpenOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	list, err := snapshot.List(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	var c contents
	for _, sn := range list {
		files, dirs := map[string][]crypto.ID{}, map[string]crypto.ID{"/": sn.Tree}
		tree.Walk(t.Context(), r, sn.Tree, "/", func(p string, n *tree.Node) error {
			rel := strings.TrimPrefix(p, f.src+"/")
			if n.Type == tree.Dir {
				dirs[p] = n.Subtree
			}
			if n.Type == tree.File {
				files[rel] = n.Content
			}
			return nil
		})
		c.fileBlobs = append(c.fileBlobs, files)
		c.dirTrees = append(c.dirTrees, dirs)
	}
	return c
}

// TestRepairFlips flips 200 random single bytes in data packs, tree
// packs, index files and snapshot files, each on a fresh copy of the
// repository: check --read-data reports every one, naming the object;
// repair index, repair packs and repair snapshots then leave a repository
// that check --read-data finds clean, in which every file whose content
// the flip did not touch restores byte-identical (and nothing restores
// wrong).
func TestRepairFlips(t *testing.T) {
	e := newEnv(t)
	f := newCorruptionFixture(t, e)
	c := f.contents(t)
	seed := uint64(1)
	if s, err := strconv.ParseUint(os.Getenv("ARCA_CORRUPTION_SEED"), 10, 64); err == nil {
		seed = s
	}
	n := 200
	if testing.Short() {
		n = 20
	}
	rng := rand.New(rand.NewPCG(seed, 77))
	kinds := []string{"data packs", "tree packs", "index", "snapshots"}
	counts := map[string]int{}
	for i := range n {
		files := f.files[kinds[rng.IntN(len(kinds))]]
		rel := files[rng.IntN(len(files))]
		fl := f.classify(rel, rng.Int64N(fileSize(filepath.Join(f.repoDir, rel))))
		fl.bit = byte(1 << rng.IntN(8))
		counts[f.kind[rel]]++
		t.Run(fmt.Sprintf("%03d-%s@%d", i, strings.ReplaceAll(rel, "/", "_"), fl.off), func(t *testing.T) {
			t.Parallel()
			f.checkRepair(t, e, c, fl)
		})
	}
	t.Logf("seed %d; flips per kind: %v", seed, counts)
}

func (f *corruptionFixture) checkRepair(t *testing.T, parent *env, c contents, fl flip) {
	e, repoDir := f.flipped(t, parent, fl)
	run := func(args ...string) result {
		return e.runEnv([]string{"ARCA_CACHE_DIR=" + filepath.Join(e.dir, "cache")}, append([]string{"-r", repoDir}, args...)...)
	}

	// check --read-data reports it, naming the object.
	name := fl.name
	if k := f.kind[fl.rel]; k == "data packs" || k == "tree packs" {
		name = filepath.Base(fl.rel)
	}
	r := run("check", "--read-data")
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, name) {
		t.Fatalf("check --read-data: exit %d, %s not named:\n%s%s", r.code, name, r.stdout, r.stderr)
	}

	// What the flip loses: the blob it falls in, or every member of the
	// group it falls in (they are sealed together).
	lostBlobs := map[crypto.ID]bool{}
	var lostBlob crypto.ID // a tree blob
	lostTree := false
	for _, en := range f.packs[filepath.Base(fl.rel)] {
		if fl.off >= int64(en.Offset) && fl.off < int64(en.Offset+en.Length) {
			lostBlobs[en.ID], lostBlob, lostTree = true, en.ID, en.Type == pack.TreeBlob
		}
	}
	lostSnap := -1
	if f.kind[fl.rel] == "snapshots" {
		lostSnap = f.snapOf[filepath.Base(fl.rel)]
	}

	for _, args := range [][]string{{"repair", "index"}, {"repair", "packs"}, {"repair", "snapshots"}} {
		if r := run(args...); r.code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := run("check", "--read-data"); r.code != 0 {
		t.Fatalf("check --read-data after repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Every snapshot but a lost one is there (by its tag); every intact
	// file restores byte-identical, nothing restores wrong.
	found := map[int]string{}
	for _, sn := range e.snapshotsIn(repoDir, run) {
		for _, tg := range sn["tags"].([]any) {
			if i, err := strconv.Atoi(tg.(string)); err == nil {
				found[i] = sn["id"].(string)
			}
		}
	}
	for i := range f.snaps {
		id, ok := found[i]
		if i == lostSnap {
			if ok {
				t.Errorf("snapshot %d, whose file was damaged, is still listed", i)
			}
			continue
		}
		if !ok {
			if lostTree && c.dirTrees[i]["/"] == lostBlob {
				continue // its root tree was lost
			}
			t.Errorf("snapshot %d lost", i)
			continue
		}
		target := filepath.Join(e.dir, fmt.Sprintf("t%d", i))
		if r := run("restore", id, "--target", target); r.code != 0 {
			t.Errorf("restore of snapshot %d after repair: exit %d\n%s", i, r.code, r.stderr)
		}
		got := restoredFiles(t, filepath.Join(target, f.src))
		for rel, content := range got {
			if want, ok := f.want[i][rel]; !ok || !bytes.Equal(content, want) {
				t.Errorf("snapshot %d: %s restored with wrong content", i, rel)
			}
		}
		for rel := range f.want[i] {
			if _, ok := got[rel]; ok || lostFile(c, i, rel, f.src, lostBlobs, lostTree) {
				continue
			}
			t.Errorf("snapshot %d: intact file %s not restored after repair", i, rel)
		}
	}
}

// lostFile says whether the file rel of snapshot i lost content to the
// damaged blobs: one of its blobs, or the tree of a directory above.
func lostFile(c contents, i int, rel, src string, blobs map[crypto.ID]bool, isTree bool) bool {
	if !isTree {
		for _, b := range c.fileBlobs[i][rel] {
			if blobs[b] {
				return true
			}
		}
		return false
	}
	for dir := path.Dir(path.Join(src, rel)); ; dir = path.Dir(dir) {
		if blobs[c.dirTrees[i][dir]] {
			return true
		}
		if dir == "/" {
			return false
		}
	}
}

// snapshotsIn lists the snapshots through run (the test's cache).
func (e *env) snapshotsIn(repoDir string, run func(args ...string) result) []map[string]any {
	e.t.Helper()
	r := run("snapshots", "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		e.t.Fatalf("snapshots --json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	return list
}
