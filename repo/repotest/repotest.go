// Package repotest creates repositories for tests.
package repotest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/local"
)

// Password is the password of test repositories.
const Password = "test password"

// KDF is a cheap argon2id setting that keeps tests fast.
var KDF = crypto.KDFParams{Time: 1, Memory: 64, Threads: 1}

// New initializes a repository in a temporary directory and opens it with
// a temporary cache. It is closed when the test ends.
func New(t testing.TB) *repo.Repository {
	t.Helper()
	be, err := local.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	return OnBackend(t, be)
}

// OnBackend initializes a repository on be and opens it.
func OnBackend(t testing.TB, be backend.Backend) *repo.Repository {
	t.Helper()
	if _, err := repo.Init(t.Context(), be, []byte(Password), repo.InitOptions{KDF: KDF, Hostname: "test"}); err != nil {
		t.Fatal(err)
	}
	return Open(t, be)
}

// Open opens the repository on be with a fresh temporary cache.
func Open(t testing.TB, be backend.Backend) *repo.Repository {
	t.Helper()
	r, err := repo.Open(t.Context(), be, []byte(Password), repo.OpenOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// FlipBlobByte damages blob id of type t in place, in a repository on the
// local backend: it flips one byte in the middle of the sealed blob. A
// tree's pack in the local cache (CacheDir/files/packs) is removed, so the
// damaged one is the only copy, as on a host that never read it.
func FlipBlobByte(t testing.TB, r *repo.Repository, typ pack.BlobType, id crypto.ID) {
	t.Helper()
	loc, ok, err := r.Lookup(typ, id)
	if err != nil || !ok {
		t.Fatalf("blob %s: %v, found %v", id.Short(), err, ok)
	}
	name := loc.Pack.String()
	if typ == pack.TreeBlob {
		os.Remove(filepath.Join(r.CacheDir(), "files", "packs", name[:2], name))
	}
	p := filepath.Join(r.Location(), "data", name[:2], name)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[loc.Entry.Offset+loc.Entry.Length/2] ^= 0x40
	os.Chmod(p, 0o600)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
