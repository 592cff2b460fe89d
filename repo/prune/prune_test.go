package prune_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/local"
	"github.com/arcabackup/arca/repo/backend/mem"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/check"
	"github.com/arcabackup/arca/repo/fstest"
	"github.com/arcabackup/arca/repo/prune"
	"github.com/arcabackup/arca/repo/repotest"
	"github.com/arcabackup/arca/repo/restore"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
)

// env is one repository on a local directory that several "hosts" open,
// each with its own cache.
type env struct {
	t     *testing.T
	be    backend.Backend
	dir   string
	snaps map[crypto.ID]string // snapshot -> the source it must restore to
}

func newEnv(t *testing.T) *env {
	dir := filepath.Join(t.TempDir(), "repo")
	be, err := local.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	repotest.OnBackend(t, be).Close()
	return &env{t: t, be: be, dir: dir, snaps: map[crypto.ID]string{}}
}

// host opens the repository as a new host (a fresh cache).
func (e *env) host() *repo.Repository { return repotest.Open(e.t, e.be) }

// source generates a tree of files from seed.
func (e *env) source(seed uint64) string {
	src := filepath.Join(e.t.TempDir(), "src")
	fstest.Generate(e.t, src, seed)
	return src
}

// announce starts a writer session of op on r.
func (e *env) announce(r *repo.Repository, op string) *repo.Heartbeat {
	e.t.Helper()
	hb, _, err := r.Announce(e.t.Context(), repo.AnnounceOptions{Operation: op, Hostname: "test", Solo: op == "prune"})
	if err != nil {
		e.t.Fatal(err)
	}
	return hb
}

// backup backs up src on r (which the caller announced) and records the
// snapshot as one that must restore.
func (e *env) backup(r *repo.Repository, src string) *snapshot.Snapshot {
	e.t.Helper()
	sn, err := backup.Run(e.t.Context(), r, backup.Options{Paths: []string{src}, Hostname: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.snaps[sn.ID] = src
	return sn
}

// backupAnnounced is a whole backup session on a new host.
func (e *env) backupAnnounced(src string) *snapshot.Snapshot {
	r := e.host()
	hb := e.announce(r, "backup")
	defer hb.Done()
	return e.backup(r, src)
}

// twoForgetFirst backs up two sources, forgets the first snapshot and
// returns its source and the packs that held its data.
func (e *env) twoForgetFirst() (srcA string, aPacks map[crypto.ID]bool) {
	e.t.Helper()
	srcA = e.source(1)
	a := e.backupAnnounced(srcA)
	e.backupAnnounced(e.source(2))
	aPacks = packsOf(e.t, e.host(), a)
	e.forget(a)
	return srcA, aPacks
}

func (e *env) forget(sn *snapshot.Snapshot) {
	e.t.Helper()
	if err := snapshot.Remove(e.t.Context(), e.host(), sn); err != nil {
		e.t.Fatal(err)
	}
	delete(e.snaps, sn.ID)
}

// prune runs a prune on a new host with margin 0.
func (e *env) prune(opts prune.Options) *prune.Result {
	e.t.Helper()
	res, err := e.tryPrune(e.host(), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) tryPrune(r *repo.Repository, opts prune.Options) (*prune.Result, error) {
	ctx := e.t.Context()
	if !opts.DryRun {
		hb, _, err := r.Announce(ctx, repo.AnnounceOptions{Operation: "prune", Hostname: "test", Solo: true, Exclusive: opts.Now})
		if err != nil {
			return nil, err
		}
		defer hb.Done()
		opts.Heartbeat = hb
		if opts.StorageNow, err = hb.StorageTime(ctx); err != nil {
			return nil, err
		}
	} else {
		opts.StorageNow = time.Now()
	}
	return prune.Run(ctx, r, opts)
}

// verify checks the repository with --read-data (no error, no orphan) and
// restores every snapshot that must restore.
func (e *env) verify() {
	e.t.Helper()
	r := e.host()
	res, err := check.Run(e.t.Context(), r, check.Options{ReadData: true})
	if err != nil || res.Errors > 0 {
		e.t.Fatalf("check: %v; %v", err, res.Problems)
	}
	list, err := snapshot.List(e.t.Context(), r)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(list) != len(e.snaps) {
		e.t.Errorf("%d snapshots; want %d", len(list), len(e.snaps))
	}
	for _, sn := range list {
		src, ok := e.snaps[sn.ID]
		if !ok {
			e.t.Errorf("unexpected snapshot %s", sn.ID.Short())
			continue
		}
		target := e.t.TempDir()
		if err := restore.Run(e.t.Context(), r, sn, restore.Options{Target: target}); err != nil {
			e.t.Fatalf("restore %s: %v", sn.ID.Short(), err)
		}
		fstest.Compare(e.t, src, filepath.Join(target, src))
	}
}

// packsOf returns the data packs holding the data blobs of snapshot sn's
// files (as host r sees them).
func packsOf(t *testing.T, r *repo.Repository, sn *snapshot.Snapshot) map[crypto.ID]bool {
	t.Helper()
	out := map[crypto.ID]bool{}
	var walk func(id crypto.ID)
	walk = func(id crypto.ID) {
		tr, err := tree.Load(t.Context(), r, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tr.Nodes {
			for _, b := range n.Content {
				locs, _ := r.Copies(pack.DataBlob, b)
				for _, l := range locs {
					out[l.Pack] = true
				}
			}
			if n.Subtree != (crypto.ID{}) {
				walk(n.Subtree)
			}
		}
	}
	walk(sn.Tree)
	return out
}

func storedPacks(t *testing.T, r *repo.Repository) map[crypto.ID]int64 {
	t.Helper()
	packs, err := r.ListPacks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return packs
}

// TestPruneTwoPhases: the first prune marks and deletes nothing; the
// second deletes what no snapshot uses; the rest restores.
func TestPruneTwoPhases(t *testing.T) {
	e := newEnv(t)
	_, aPacks := e.twoForgetFirst()
	before := storedPacks(t, e.host())

	res := e.prune(prune.Options{})
	if res.Deleted.Packs != 0 || res.Marked.IsNull() || res.Unused.Packs+res.Repack.Packs == 0 {
		t.Fatalf("first prune: %+v; want a marking and no deletion", res)
	}
	after := storedPacks(t, e.host())
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Fatalf("the first prune deleted pack %s", p.Short())
		}
	}
	res = e.prune(prune.Options{})
	if res.Deleted.Packs == 0 || len(res.Swept) != 1 {
		t.Fatalf("second prune: %+v; want the marked packs deleted", res)
	}
	stored := storedPacks(t, e.host())
	for p := range aPacks {
		if _, ok := stored[p]; ok {
			t.Errorf("pack %s of the forgotten snapshot survived", p.Short())
		}
	}
	e.verify()
}

// TestPruneMarginAndDryRun: candidates stay until the margin has passed; a
// dry run reports the plan and changes nothing.
func TestPruneMarginAndDryRun(t *testing.T) {
	e := newEnv(t)
	e.twoForgetFirst()
	dry := e.prune(prune.Options{DryRun: true})
	if dry.Unused.Packs+dry.Repack.Packs == 0 || !dry.Marked.IsNull() {
		t.Fatalf("dry run: %+v", dry)
	}
	lists, _, _ := e.host().CandidateLists(t.Context())
	if len(lists) != 0 {
		t.Fatalf("a dry run wrote %d candidate lists", len(lists))
	}
	e.prune(prune.Options{Margin: time.Hour})
	res := e.prune(prune.Options{Margin: time.Hour})
	if res.Deleted.Packs != 0 || len(res.Waiting) != 1 || !strings.Contains(res.Waiting[0].Reason, "margin") {
		t.Fatalf("prune within the margin: %+v", res)
	}
	e.verify()
}

// TestDedupWhileMarking: a backup that started before the marking and
// deduplicates against a candidate: the sweep waits for it, then keeps the
// pack its snapshot uses.
func TestDedupWhileMarking(t *testing.T) {
	e := newEnv(t)
	srcA, _ := e.twoForgetFirst()

	w := e.host()
	hb := e.announce(w, "backup") // running before the marking
	res := e.prune(prune.Options{})
	if res.Unused.Packs+res.Repack.Packs == 0 {
		t.Fatalf("nothing marked: %+v", res)
	}
	e.backup(w, srcA) // deduplicates against the candidates
	res = e.prune(prune.Options{})
	if res.Deleted.Packs != 0 || len(res.Waiting) != 1 || !strings.Contains(res.Waiting[0].Reason, "has not finished") {
		t.Fatalf("prune while the writer runs: %+v; want it to wait", res)
	}
	hb.Done()
	res = e.prune(prune.Options{})
	if res.Unmarked.Packs == 0 {
		t.Errorf("the candidates the new snapshot uses were not un-marked: %+v", res)
	}
	e.verify()
}

// TestBackupAfterMarking: a backup that starts after the marking stores
// the candidates' blobs again, so the sweep deletes the candidates under
// it without loss.
func TestBackupAfterMarking(t *testing.T) {
	e := newEnv(t)
	srcA, aPacks := e.twoForgetFirst()
	e.prune(prune.Options{})

	w := e.host()
	hb := e.announce(w, "backup") // reads the candidate list
	for p := range aPacks {
		if !w.IsCandidate(p) {
			t.Fatalf("pack %s not seen as a candidate", p.Short())
		}
	}
	sn := e.backup(w, srcA)
	if sn.Summary.DataBlobs == 0 {
		t.Fatalf("the backup deduplicated against the candidates")
	}
	res := e.prune(prune.Options{}) // sweeps although the writer runs: it announced after the marking
	if res.Deleted.Packs == 0 {
		t.Fatalf("prune: %+v; want the candidates deleted", res)
	}
	hb.Done()
	e.verify()
}

// TestStaleCacheAfterSweep: a host that opened the repository (its cache
// listing the candidates) before the sweep and starts writing after it
// does not deduplicate against the deleted packs; a host's on-disk cache
// drops exactly the superseded files' packs when it opens again.
func TestStaleCacheAfterSweep(t *testing.T) {
	e := newEnv(t)
	srcA := e.source(1)
	a := e.backupAnnounced(srcA)
	b := e.backupAnnounced(e.source(2))
	aPacks := packsOf(t, e.host(), a)
	e.forget(a)

	cache := t.TempDir()
	open := func() *repo.Repository {
		r, err := repo.Open(t.Context(), e.be, []byte(repotest.Password), repo.OpenOptions{CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	old := open() // loads the index while the packs are there
	e.prune(prune.Options{})
	early := open() // a second host process, opened before the sweep
	old.Close()
	e.prune(prune.Options{})

	hb := e.announce(early, "backup")
	for p := range aPacks {
		if early.IsCandidate(p) {
			t.Errorf("pack %s: still a candidate after the sweep", p.Short())
		}
		if _, ok, _ := early.IndexedPack(p); ok {
			t.Errorf("deleted pack %s still indexed once the writer announced itself", p.Short())
		}
	}
	e.backup(early, srcA)
	hb.Done()
	early.Close()

	again := open()
	defer again.Close()
	for p := range packsOf(t, again, b) {
		if _, ok, _ := again.IndexedPack(p); !ok {
			t.Errorf("pack %s of a kept snapshot dropped from the cache", p.Short())
		}
	}
	for p := range aPacks {
		if _, ok, _ := again.IndexedPack(p); ok {
			t.Errorf("deleted pack %s still in the cache", p.Short())
		}
	}
	e.verify()
}

// failPackRemove is a backend on which deleting packs fails: a sweep
// killed after it rewrote the index and before it deleted the packs.
type failPackRemove struct{ backend.Backend }

func (f failPackRemove) Remove(ctx context.Context, h backend.Handle) error {
	if h.Type == backend.PackFile {
		return errors.New("killed")
	}
	return f.Backend.Remove(ctx, h)
}

// TestRecoverMeetsCandidate: after a sweep was killed with the candidates
// out of the index but not deleted, a writer's SyncPacks does not index
// them again, and the next prune finishes the sweep.
func TestRecoverMeetsCandidate(t *testing.T) {
	e := newEnv(t)
	_, aPacks := e.twoForgetFirst()
	e.prune(prune.Options{})
	killed := repotest.Open(t, failPackRemove{e.be})
	if _, err := e.tryPrune(killed, prune.Options{}); err == nil {
		t.Fatal("the killed sweep succeeded")
	}
	stored := storedPacks(t, e.host())
	for p := range aPacks {
		if _, ok := stored[p]; !ok {
			t.Fatalf("pack %s deleted although removal fails", p.Short())
		}
	}
	w := e.host()
	hb := e.announce(w, "backup")
	if err := w.SyncPacks(t.Context()); err != nil {
		t.Fatal(err)
	}
	for p := range aPacks {
		if _, ok, _ := w.IndexedPack(p); ok {
			t.Errorf("SyncPacks indexed candidate %s again", p.Short())
		}
	}
	hb.Done()
	res := e.prune(prune.Options{})
	if res.Deleted.Packs == 0 {
		t.Fatalf("the next prune did not finish the sweep: %+v", res)
	}
	e.verify()
}

// TestOrphanWithUsedBlobsKept: a pack in no index file that holds blobs a
// snapshot uses (its index file was lost) is indexed again, not deleted.
func TestOrphanWithUsedBlobsKept(t *testing.T) {
	e := newEnv(t)
	e.backupAnnounced(e.source(1))
	// Lose every index file: all packs become orphans.
	idx, _ := filepath.Glob(filepath.Join(e.dir, "index", "*"))
	for _, p := range idx {
		os.Remove(p)
	}
	// The snapshot's trees cannot be read now, so prune refuses.
	if _, err := e.tryPrune(e.host(), prune.Options{}); !errors.Is(err, prune.ErrUnreadable) {
		t.Fatalf("prune with unreadable trees: %v; want ErrUnreadable", err)
	}
	// A writer that recovers the orphans (as after a killed session)
	// makes the trees readable again; prune then keeps everything.
	w := e.host()
	if err := w.SyncPacks(t.Context()); err != nil {
		t.Fatal(err)
	}
	res := e.prune(prune.Options{})
	res2 := e.prune(prune.Options{})
	if res.Orphans.Packs != 0 || res2.Deleted.Packs != 0 {
		t.Errorf("prunes after recovery: %+v / %+v; want nothing to delete", res, res2)
	}
	e.verify()
}

// TestRepack: a pack partly used is repacked when unused space exceeds
// MaxUnused, and deleted by the next prune.
func TestRepack(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	fstest.WriteFiles(t, src, map[string]string{"keep": strings.Repeat("k", 3000), "drop": strings.Repeat("d", 5000)})
	a := e.backupAnnounced(src)
	os.Remove(filepath.Join(src, "drop"))
	e.backupAnnounced(src)
	e.forget(a)
	res := e.prune(prune.Options{})
	if res.Repack.Packs == 0 || res.RepackBlobs == 0 {
		t.Fatalf("prune: %+v; want a repack", res)
	}
	res = e.prune(prune.Options{})
	if res.Deleted.Packs == 0 {
		t.Fatalf("second prune: %+v; want the repacked pack deleted", res)
	}
	e.verify()
}

// TestPruneNow: --now is exclusive (refused while another writer's
// heartbeat is fresh) and reclaims the space in one run.
func TestPruneNow(t *testing.T) {
	e := newEnv(t)
	_, aPacks := e.twoForgetFirst()
	other := e.host()
	hb := e.announce(other, "backup")
	if _, err := e.tryPrune(e.host(), prune.Options{Now: true}); !errors.Is(err, repo.ErrBusy) {
		t.Fatalf("prune --now beside a writer: %v; want ErrBusy", err)
	}
	hb.Done()
	res := e.prune(prune.Options{Now: true, Margin: time.Hour})
	if res.Deleted.Packs == 0 {
		t.Fatalf("prune --now: %+v", res)
	}
	stored := storedPacks(t, e.host())
	for p := range aPacks {
		if _, ok := stored[p]; ok {
			t.Errorf("pack %s survived prune --now", p.Short())
		}
	}
	lists, _, _ := e.host().CandidateLists(t.Context())
	if len(lists) != 0 {
		t.Errorf("%d candidate lists left", len(lists))
	}
	e.verify()
}

// TestPruneNeedsFormat2: a format-1 repository is refused with what to do.
func TestPruneNeedsFormat2(t *testing.T) {
	e := newEnv(t)
	r := e.host()
	cfg := r.Config()
	cfg.Version = repo.ConfigVersion1
	data, err := repo.SealFile(r.Key(), crypto.KindConfig, []byte(repo.EncodeConfig(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.be.Save(t.Context(), backend.Handle{Type: backend.ConfigFile}, backend.Bytes(data)); err != nil {
		t.Fatal(err)
	}
	_, err = e.tryPrune(e.host(), prune.Options{})
	if err == nil || !strings.Contains(err.Error(), "arca migrate") {
		t.Fatalf("prune on format 1: %v", err)
	}
}

// TestClockSkew: prune refuses when the local clock is far from the
// storage's (the margin is measured by the storage's clock), and runs
// when they agree.
func TestClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{10 * time.Minute, -10 * time.Minute, time.Minute} {
		be := mem.New()
		be.Now = func() time.Time { return time.Now().Add(skew) }
		r := repotest.OnBackend(t, be)
		hb, _, err := r.Announce(t.Context(), repo.AnnounceOptions{Operation: "prune", Hostname: "test", Solo: true})
		if err != nil {
			t.Fatal(err)
		}
		st, err := hb.StorageTime(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		_, err = prune.Run(t.Context(), r, prune.Options{Heartbeat: hb, StorageNow: st})
		hb.Done()
		refused := err != nil && strings.Contains(err.Error(), "clock")
		if want := skew.Abs() > repo.MaxClockSkew; refused != want {
			t.Errorf("storage clock %s off: err = %v; want refused %v", skew, err, want)
		}
	}
}

// TestGroupShares: the unused members of a group count their share of its
// bytes, so the unused space prune reports stays within what the packs
// hold (each member counting the whole group's length would report many
// times that).
func TestGroupShares(t *testing.T) {
	e := newEnv(t)
	src := t.TempDir()
	files := map[string]string{}
	for i := range 100 {
		files[fmt.Sprintf("f%03d", i)] = strings.Repeat(fmt.Sprintf("line %d of a small file\n", i), 40+i)
	}
	fstest.WriteFiles(t, src, files)
	a := e.backupAnnounced(src)
	for i := 0; i < 100; i += 2 {
		os.Remove(filepath.Join(src, fmt.Sprintf("f%03d", i)))
	}
	e.backupAnnounced(src)
	e.forget(a)
	var total int64
	for _, size := range storedPacks(t, e.host()) {
		total += size
	}
	res := e.prune(prune.Options{MaxUnused: prune.Limit{Unlimited: true}})
	if res.UnusedLeft <= 0 || res.UnusedLeft >= total {
		t.Errorf("unused space left %d bytes, in packs of %d bytes; want a share of them", res.UnusedLeft, total)
	}
	e.verify()
}
