package repo_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/mem"
	"github.com/arcabackup/arca/repo/repotest"
)

// plantKey stores a key file for password wrapping master (a new random
// key when nil) with parameters p, as the storage could, and returns its
// ID.
func plantKey(t *testing.T, be backend.Backend, master *crypto.Key, password string, p crypto.KDFParams) crypto.ID {
	t.Helper()
	if master == nil {
		var err error
		if master, err = crypto.NewRandomKey(); err != nil {
			t.Fatal(err)
		}
	}
	kf, err := crypto.NewKeyFile(master, []byte(password), p, "h", "u", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, err := kf.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	id := crypto.Hash(data)
	if err := be.Save(t.Context(), backend.Handle{Type: backend.KeyFile, Name: id.String()}, backend.Bytes(data)); err != nil {
		t.Fatal(err)
	}
	return id
}

func openWarnings(t *testing.T, be backend.Backend, password, hint string) (*repo.Repository, []string, error) {
	t.Helper()
	var warned []string
	r, err := repo.Open(t.Context(), be, []byte(password), repo.OpenOptions{KeyHint: hint, Warn: func(m string) { warned = append(warned, m) }})
	if r != nil {
		t.Cleanup(func() { r.Close() })
	}
	return r, warned, err
}

// TestInitInterrupted: an init killed between its key file and its config
// leaves a key file; a second init refuses the location instead of
// writing a config that the leftover key (tried first) cannot open.
func TestInitInterrupted(t *testing.T) {
	be := mem.New()
	if _, err := repo.Init(t.Context(), be, []byte("pw"), repo.InitOptions{KDF: repotest.KDF}); err != nil {
		t.Fatal(err)
	}
	if err := be.Remove(t.Context(), backend.Handle{Type: backend.ConfigFile}); err != nil {
		t.Fatal(err)
	}
	_, err := repo.Init(t.Context(), be, []byte("pw"), repo.InitOptions{KDF: repotest.KDF})
	if err == nil || !strings.Contains(err.Error(), "no config") || !strings.Contains(err.Error(), "keys/") {
		t.Fatalf("init over leftovers: %v; want a refusal naming them", err)
	}
}

// TestOrphanKeyOpensNotConfig: a repository that already has such a
// leftover key (from an older arca), for the same password and sorting
// before the real key, still opens: every key the password opens is tried
// until the config authenticates.
func TestOrphanKeyOpensNotConfig(t *testing.T) {
	be := mem.New()
	r := repotest.OnBackend(t, be)
	real := r.KeyID().String()
	for {
		if id := plantKey(t, be, nil, repotest.Password, repotest.KDF); id.String() < real {
			break
		}
	}
	r2, warned, err := openWarnings(t, be, repotest.Password, "")
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if r2.KeyID() != r.KeyID() || len(warned) == 0 || !strings.Contains(strings.Join(warned, "\n"), "does not open the config") {
		t.Errorf("opened with key %s, warnings %q; want %s and a warning about the leftover", r2.KeyID().Short(), warned, real[:8])
	}
}

// TestDamagedKeyFiles: a damaged key file is reported as damaged, not as a
// wrong password; with another key the repository opens and the damage is
// reported.
func TestDamagedKeyFiles(t *testing.T) {
	be := mem.New()
	r := repotest.OnBackend(t, be)
	h := backend.Handle{Type: backend.KeyFile, Name: r.KeyID().String()}
	data, _ := backend.ReadAll(t.Context(), be, h)
	for _, off := range []int{10, len(data) / 2, len(data) - 5} {
		bad := bytes.Clone(data)
		bad[off] ^= 0x01
		be.Save(t.Context(), h, backend.Bytes(bad))
		_, err := repo.Open(t.Context(), be, []byte(repotest.Password), repo.OpenOptions{})
		if errors.Is(err, repo.ErrWrongPassword) || !errors.Is(err, repo.ErrCorrupt) || !strings.Contains(err.Error(), h.Name[:8]) {
			t.Errorf("flip at %d: %v; want ErrCorrupt naming keys/%s, not a wrong password", off, err, h.Name[:8])
		}
	}
	be.Save(t.Context(), h, backend.Bytes(data))
	// A second password's key still opens; the damaged key is reported.
	id, err := r.AddKey(t.Context(), []byte("second"), repotest.KDF, "h", "u")
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(data)
	bad[20] ^= 0x01
	be.Save(t.Context(), h, backend.Bytes(bad))
	r2, _, err := openWarnings(t, be, "second", "")
	if err != nil || r2.KeyID() != id {
		t.Fatalf("open with the undamaged key: %v", err)
	}
	if h.Name < id.String() && r2.DamageCount() != 1 {
		t.Errorf("the damaged key file tried first is not reported")
	}
}

// TestCostlyKeysSkipped: key files whose key derivation costs more than
// AutoKDFLimit (as the storage could plant) are not derived unless named
// with a key hint.
func TestCostlyKeysSkipped(t *testing.T) {
	be := mem.New()
	r := repotest.OnBackend(t, be)
	// Planted key files need no valid content to cost a derivation each.
	costly := crypto.KDFParams{Time: 20, Memory: 256 * 1024, Threads: 4}
	var planted []crypto.ID
	for i := range 3 {
		kf := &crypto.KeyFile{Version: 1, KDF: "argon2id", Params: costly, Salt: bytes.Repeat([]byte{byte(i)}, 32), Data: make([]byte, 64)}
		data, _ := kf.Marshal()
		id := crypto.Hash(data)
		be.Save(t.Context(), backend.Handle{Type: backend.KeyFile, Name: id.String()}, backend.Bytes(data))
		planted = append(planted, id)
	}
	if _, err := repo.Open(t.Context(), be, []byte(repotest.Password), repo.OpenOptions{}); err != nil {
		t.Fatal(err)
	}
	// A password no key opens meets them all: none is derived.
	_, _, err := openWarnings(t, be, "no such password", "")
	for _, id := range planted {
		if !errors.Is(err, repo.ErrWrongPassword) || !strings.Contains(err.Error(), id.Short()+": its key derivation") {
			t.Errorf("planted key %s is not reported as skipped: %v", id.Short(), err)
		}
	}
	// A real key above the limit: skipped, then used when hinted.
	strong := plantKey(t, be, r.Key(), "strong", crypto.KDFParams{Time: crypto.AutoKDFLimit.Time + 1, Memory: 64, Threads: 1})
	if _, _, err := openWarnings(t, be, "strong", ""); !errors.Is(err, repo.ErrWrongPassword) || !strings.Contains(err.Error(), "--key-hint "+strong.Short()) {
		t.Errorf("open without a hint: %v; want a wrong password that suggests --key-hint %s", err, strong.Short())
	}
	r2, _, err := openWarnings(t, be, "strong", strong.String()[:6])
	if err != nil || r2.KeyID() != strong {
		t.Errorf("open with --key-hint: %v", err)
	}
	if _, _, err := openWarnings(t, be, "strong", "ffffffffffff"); err == nil || !strings.Contains(err.Error(), "key hint") {
		t.Errorf("a hint matching nothing: %v", err)
	}
}

// TestReadOnlyCache: a cache directory that cannot be written is not an
// error: a private cache is used, with a warning.
func TestReadOnlyCache(t *testing.T) {
	be := mem.New()
	repotest.OnBackend(t, be)
	base := t.TempDir()
	if os.Geteuid() == 0 {
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", base).CombinedOutput(); err != nil {
			t.Skipf("mount: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", base).Run() })
	} else {
		os.Chmod(base, 0o500)
		t.Cleanup(func() { os.Chmod(base, 0o700) })
	}
	var warned []string
	r, err := repo.Open(t.Context(), be, []byte(repotest.Password), repo.OpenOptions{CacheDir: filepath.Join(base, "arca"), Warn: func(m string) { warned = append(warned, m) }})
	if err != nil {
		t.Fatalf("open with a read-only cache: %v", err)
	}
	defer r.Close()
	if len(warned) != 1 || !strings.Contains(warned[0], "private cache") {
		t.Errorf("warnings %q; want one about the private cache", warned)
	}
}
