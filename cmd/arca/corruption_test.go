package main_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// corruptionFixture is a repository with three snapshots (each a superset
// of the one before), two keys (passwords pw and pw2), and what the test
// needs to know about where every byte belongs.
type corruptionFixture struct {
	repoDir string
	src     string
	snaps   []crypto.ID                // oldest first
	want    []map[string][]byte        // per snapshot: path under src -> content
	keyOf   map[string]string          // key file name -> password
	packs   map[string][]pack.Entry    // pack name -> its blobs
	uses    map[crypto.ID]map[int]bool // blob -> snapshots that need it
	kind    map[string]string          // repository file (relative) -> data, tree, index, snapshots, keys, config
	files   map[string][]string        // kind -> relative paths
	snapOf  map[string]int             // snapshot file name -> index in snaps
	treeIDs map[crypto.ID]map[int]bool // tree blob -> snapshots
}

func newCorruptionFixture(t *testing.T, e *env) *corruptionFixture {
	t.Helper()
	f := &corruptionFixture{repoDir: e.initRepo(), src: filepath.Join(e.dir, "src"), keyOf: map[string]string{},
		packs: map[string][]pack.Entry{}, uses: map[crypto.ID]map[int]bool{}, kind: map[string]string{},
		files: map[string][]string{}, snapOf: map[string]int{}, treeIDs: map[crypto.ID]map[int]bool{}}
	rng := rand.New(rand.NewPCG(8, 8))
	all := map[string][]byte{}
	for gen, dirs := range [][]string{{"a", "a/deep", "b"}, {"c"}, {"d", "d/e"}} {
		for _, d := range dirs {
			for i := range 3 {
				data := make([]byte, 1000+rng.IntN(150000))
				for j := range data {
					data[j] = byte(rng.Uint32() >> 24)
				}
				if i == 0 {
					copy(data, bytes.Repeat([]byte("compressible "), len(data)/13))
				}
				rel := fmt.Sprintf("%s/f%d-%d", d, gen, i)
				all[rel] = data
				p := filepath.Join(f.src, rel)
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, data, 0o644)
			}
		}
		e.must("-r", f.repoDir, "backup", "--tag", fmt.Sprint(gen), f.src)
		f.want = append(f.want, maps.Clone(all))
	}
	e.runEnvMust([]string{"ARCA_NEW_PASSWORD=pw2"}, append([]string{"-r", f.repoDir, "key", "add"}, cheapKDF...)...)
	for _, sn := range e.snapshots(f.repoDir) {
		id, _ := crypto.ParseID(sn["id"].(string))
		f.snaps = append(f.snaps, id)
	}

	// What each file and each byte is, from the pristine repository.
	be, err := local.Open(f.repoDir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(t.Context(), be, []byte("pw"), repo.OpenOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	filepath.WalkDir(f.repoDir, func(p string, d fs.DirEntry, err error) error {
		if d == nil || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(f.repoDir, p)
		k := strings.Split(rel, "/")[0]
		if k == "config" || k == "keys" || k == "index" || k == "snapshots" || k == "data" {
			f.kind[rel] = k
		}
		return nil
	})
	for rel, k := range f.kind {
		name := filepath.Base(rel)
		switch k {
		case "keys":
			f.keyOf[name] = "pw2"
		case "snapshots":
			for i, id := range f.snaps {
				if id.String() == name {
					f.snapOf[name] = i
				}
			}
		case "index":
			id, _ := crypto.ParseID(name)
			ix, err := r.LoadIndexFile(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ix.Packs {
				f.packs[p.ID.String()] = p.Entries
			}
		}
	}
	f.keyOf[r.KeyID().String()] = "pw"
	list, err := snapshot.List(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	for i, sn := range list {
		mark := func(m map[crypto.ID]map[int]bool, id crypto.ID) {
			if m[id] == nil {
				m[id] = map[int]bool{}
			}
			m[id][i] = true
		}
		mark(f.treeIDs, sn.Tree)
		tree.Walk(t.Context(), r, sn.Tree, "/", func(p string, n *tree.Node) error {
			if n.Type == tree.Dir {
				mark(f.treeIDs, n.Subtree)
			}
			for _, id := range n.Content {
				mark(f.uses, id)
			}
			return nil
		})
	}
	for rel, k := range f.kind {
		if k == "data" {
			k = "data packs"
			if entries := f.packs[filepath.Base(rel)]; len(entries) > 0 && entries[0].Type == pack.TreeBlob {
				k = "tree packs"
			}
			f.kind[rel] = k
		}
		f.files[k] = append(f.files[k], rel)
	}
	for k := range f.files {
		slices.Sort(f.files[k])
	}
	return f
}

func (e *env) runEnvMust(extra []string, args ...string) {
	e.t.Helper()
	if r := e.runEnv(extra, args...); r.code != 0 {
		e.t.Fatalf("arca %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
}

// flip is one damaged byte and what it means.
type flip struct {
	rel     string       // file in the repository
	off     int64        // byte
	bit     byte         // xor mask
	name    string       // how messages name the object
	touched map[int]bool // snapshots that may lose entries
	met     bool         // a command run here must meet (and report) it
	all     bool         // the repository cannot be opened with the damaged part (config, pw's key)
	pw      string       // the password to restore with
}

// classify says what flipping byte off of file rel touches.
func (f *corruptionFixture) classify(rel string, off int64) flip {
	fl := flip{rel: rel, off: off, touched: map[int]bool{}, met: true, pw: "pw"}
	base := filepath.Base(rel)
	switch k := f.kind[rel]; k {
	case "config":
		fl.name, fl.all = "config", true
	case "keys":
		fl.name = "keys/" + base[:8]
		if f.keyOf[base] == "pw" {
			fl.all, fl.pw = true, "pw2" // pw meets it; everything restores with pw2
		} else {
			fl.met = false // met only if tried before pw's key
			for name, pw := range f.keyOf {
				if pw == "pw" && base < name {
					fl.met = true
				}
			}
		}
	case "index":
		fl.name = "index/" + base
	case "snapshots":
		fl.name = "snapshots/" + base
		fl.touched[f.snapOf[base]] = true
	case "data packs", "tree packs":
		fl.name = base[:8]
		fl.met = k == "data packs" // a header flip: only whole-pack reads meet it
		for _, e := range f.packs[base] {
			if off >= int64(e.Offset) && off < int64(e.Offset+e.Length) {
				fl.met = true
				users := f.uses[e.ID]
				if e.Type == pack.TreeBlob {
					users = f.treeIDs[e.ID]
				}
				for i := range users {
					fl.touched[i] = true
				}
			}
		}
	}
	return fl
}

// TestCorruption flips 200 random single bytes across packs, index files,
// snapshot files, trees, keys and the config, each on a fresh copy of the
// repository, and restores every snapshot: no flip ever restores wrong
// content, every flip a command meets is reported naming the object, and
// every snapshot the flip does not touch restores in full.
func TestCorruption(t *testing.T) {
	e := newEnv(t)
	f := newCorruptionFixture(t, e)
	seed := uint64(1)
	if s, err := strconv.ParseUint(os.Getenv("ARCA_CORRUPTION_SEED"), 10, 64); err == nil {
		seed = s
	}
	n := 200
	if testing.Short() {
		n = 30
	}
	rng := rand.New(rand.NewPCG(seed, 42))
	kinds := []string{"data packs", "tree packs", "index", "snapshots", "keys", "config"}
	var flips []flip
	for range n {
		files := f.files[kinds[rng.IntN(len(kinds))]]
		rel := files[rng.IntN(len(files))]
		fl := f.classify(rel, rng.Int64N(fileSize(filepath.Join(f.repoDir, rel))))
		fl.bit = byte(1 << rng.IntN(8))
		flips = append(flips, fl)
	}
	t.Logf("seed %d (set ARCA_CORRUPTION_SEED to replay)", seed)
	counts := map[string]int{}
	for i, fl := range flips {
		counts[f.kind[fl.rel]]++
		t.Run(fmt.Sprintf("%03d-%s@%d", i, strings.ReplaceAll(fl.rel, "/", "_"), fl.off), func(t *testing.T) {
			t.Parallel()
			f.check(t, e, fl)
		})
	}
	t.Logf("flips per kind: %v", counts)
}

// flipped returns a test environment holding a copy of the fixture's
// repository with fl applied.
func (f *corruptionFixture) flipped(t *testing.T, parent *env, fl flip) (*env, string) {
	e := &env{t: t, dir: t.TempDir(), vars: parent.vars}
	repoDir := filepath.Join(e.dir, "repo")
	if out, err := exec.Command("cp", "-a", f.repoDir, repoDir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	p := filepath.Join(repoDir, fl.rel)
	data, _ := os.ReadFile(p)
	data[fl.off] ^= fl.bit
	os.Chmod(p, 0o600)
	os.WriteFile(p, data, 0o600)
	return e, repoDir
}

func (f *corruptionFixture) check(t *testing.T, parent *env, fl flip) {
	e, repoDir := f.flipped(t, parent, fl)

	var stderr strings.Builder
	run := func(pw string, args ...string) result {
		r := e.runEnv([]string{"ARCA_PASSWORD=" + pw}, append([]string{"-r", repoDir, "--no-cache"}, args...)...)
		stderr.WriteString(r.stderr)
		return r
	}
	if fl.all {
		// The password's only way in is damaged: the command fails and
		// says what is damaged (not "wrong password").
		r := run("pw", "snapshots")
		if r.code == 0 || r.code == 12 {
			t.Errorf("snapshots with %s damaged: exit %d; want a failure that is not a wrong password", fl.name, r.code)
		}
	}
	if fl.name == "config" {
		if !strings.Contains(stderr.String(), "config") {
			t.Errorf("the damaged config is not named:\n%s", stderr.String())
		}
		return
	}
	run(fl.pw, "snapshots")
	for i, id := range f.snaps {
		target := filepath.Join(e.dir, fmt.Sprintf("t%d", i))
		r := run(fl.pw, "restore", id.String(), "--target", target)
		got := restoredFiles(t, filepath.Join(target, f.src))
		for rel, content := range got {
			if want, ok := f.want[i][rel]; !ok || !bytes.Equal(content, want) {
				t.Errorf("snapshot %d: %s restored with wrong content (%d bytes, in snapshot: %v)", i, rel, len(content), ok)
			}
		}
		if fl.touched[i] {
			continue
		}
		if len(got) != len(f.want[i]) || r.code != 0 && r.code != 3 {
			t.Errorf("snapshot %d, untouched by the flip: exit %d, %d of %d files restored\n%s", i, r.code, len(got), len(f.want[i]), r.stderr)
		}
	}
	if fl.met && !strings.Contains(stderr.String(), fl.name) {
		t.Errorf("the damaged object %s was not named:\n%s", fl.name, stderr.String())
	}
}

// restoredFiles reads the regular files under dir (not the restore's
// temporary ones), by path relative to dir.
func restoredFiles(t *testing.T, dir string) map[string][]byte {
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".arca-restore-") {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		b, _ := os.ReadFile(p)
		out[rel] = b
		return nil
	})
	return out
}
