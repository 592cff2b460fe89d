package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/index"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo/backend"
)

// Location says where a blob is stored (index.Location, so that packages
// above repo need not import the index).
type Location = index.Location

// ErrNoRepository is returned by Open when the backend holds no config.
var ErrNoRepository = backend.ErrNoRepository

// ErrWrongPassword is returned when no key file opens with the password.
var ErrWrongPassword = crypto.ErrWrongPassword

// Repository is an open repository. It is safe for concurrent use.
type Repository struct {
	be    backend.Backend
	key   *crypto.Key
	cfg   Config
	keyID crypto.ID // the key file that opened it

	idx        *index.DB
	cacheDir   string
	tempDir    string     // a private cache to remove on Close, when the shared one was busy
	files      *fileCache // trees and snapshot files
	treePacks  sync.Map   // pack ID -> *treePack: one fetch of a tree pack at a time
	lastGroups groupCache // of LoadBlob
	dmg        damage
	cands      candidates
	avoidMu    sync.Mutex
	avoid      map[crypto.ID]bool
	sawStale   atomic.Bool // Announce saw a heartbeat of a writer that is gone

	Warn func(msg string) // reports recoverable problems; never nil after Open
	now  func() time.Time // OpenOptions.Now
}

// InitOptions configure a new repository.
type InitOptions struct {
	Compression pack.Compression
	KDF         crypto.KDFParams // zero means crypto.DefaultKDF
	Hostname    string
	Username    string
	Now         time.Time
}

// Init creates a repository on be, which must hold none, with one key file
// for password. It returns the new config.
func Init(ctx context.Context, be backend.Backend, password []byte, opts InitOptions) (Config, error) {
	if _, err := be.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); err == nil {
		return Config{}, fmt.Errorf("repo: %s already holds a repository", be.Location())
	} else if !errors.Is(err, backend.ErrNotExist) {
		return Config{}, fmt.Errorf("repo: init %s: %w", be.Location(), err)
	}
	if err := checkEmpty(ctx, be); err != nil {
		return Config{}, err
	}
	cfg, err := newConfig(opts.Compression)
	if err != nil {
		return Config{}, err
	}
	key, err := crypto.NewRandomKey()
	if err != nil {
		return Config{}, err
	}
	if opts.KDF == (crypto.KDFParams{}) {
		opts.KDF = crypto.DefaultKDF
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if _, err := saveKeyFile(ctx, be, key, password, opts.KDF, opts.Hostname, opts.Username, opts.Now); err != nil {
		return Config{}, err
	}
	data, err := SealFile(key, crypto.KindConfig, []byte(EncodeConfig(cfg)))
	if err != nil {
		return Config{}, err
	}
	if err := be.Save(ctx, backend.Handle{Type: backend.ConfigFile}, backend.Bytes(data)); err != nil {
		return Config{}, fmt.Errorf("repo: save config: %w", err)
	}
	return cfg, nil
}

// checkEmpty refuses a location that holds files of a repository but no
// config: what an interrupted init (or a damaged repository) leaves.
// Writing a new config beside them would make a repository whose old key
// files open with the same password but not its config.
func checkEmpty(ctx context.Context, be backend.Backend) error {
	var found []string
	for _, t := range backend.AllTypes {
		if t == backend.ConfigFile {
			continue
		}
		err := be.List(ctx, t, func(fi backend.FileInfo) error {
			if len(found) < 3 {
				found = append(found, backend.Handle{Type: t, Name: fi.Name}.String())
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("repo: init %s: %w", be.Location(), err)
		}
	}
	if len(found) > 0 {
		return fmt.Errorf("repo: %s holds repository files but no config (%s): an interrupted init, or a repository that lost its config; remove them to start afresh (nothing can be read from them without the config)",
			be.Location(), strings.Join(found, ", "))
	}
	return nil
}

func saveKeyFile(ctx context.Context, be backend.Backend, key *crypto.Key, password []byte, p crypto.KDFParams, host, user string, now time.Time) (crypto.ID, error) {
	kf, err := crypto.NewKeyFile(key, password, p, host, user, now)
	if err != nil {
		return crypto.ID{}, err
	}
	data, err := kf.Marshal()
	if err != nil {
		return crypto.ID{}, err
	}
	id := crypto.Hash(data)
	if err := be.Save(ctx, backend.Handle{Type: backend.KeyFile, Name: id.String()}, backend.Bytes(data)); err != nil {
		return crypto.ID{}, fmt.Errorf("repo: save key %s: %w", id.Short(), err)
	}
	return id, nil
}

// OpenOptions configure Open.
type OpenOptions struct {
	// CacheDir is the base directory of local caches; the repository's
	// cache is CacheDir/<repository id>. Empty means a private temporary
	// cache, removed on Close.
	CacheDir string
	// KeyHint, an ID prefix, names the key file to try first; it is also
	// tried when its key derivation costs more than crypto.AutoKDFLimit.
	KeyHint string
	// Warn receives recoverable problems (e.g. a busy cache). May be nil.
	Warn func(msg string)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// FileCacheBytes bounds the cache of trees and snapshot files; 0 means
	// DefaultFileCacheBytes on a remote backend (one that bounds its
	// connections) and no such cache on a local one; negative: none.
	FileCacheBytes int64
}

// Open unlocks the repository on be with password, opens its local cache
// and brings the cache up to date with the repository's index files.
func Open(ctx context.Context, be backend.Backend, password []byte, opts OpenOptions) (*Repository, error) {
	cfgData, err := backend.ReadAll(ctx, be, backend.Handle{Type: backend.ConfigFile})
	if errors.Is(err, backend.ErrNotExist) {
		return nil, fmt.Errorf("repo: %s: %w", be.Location(), ErrNoRepository)
	} else if err != nil {
		return nil, fmt.Errorf("repo: open %s: load config: %w", be.Location(), err)
	}
	u, problems, err := unlock(ctx, be, password, opts.KeyHint, cfgData)
	if err != nil {
		return nil, err
	}
	r := &Repository{be: be, key: u.key, cfg: u.cfg, keyID: u.keyID, Warn: opts.Warn, now: opts.Now}
	if r.Warn == nil {
		r.Warn = func(string) {}
	}
	if r.now == nil {
		r.now = time.Now
	}
	for _, p := range problems {
		if p.corrupt {
			r.Damage("keys/"+p.id.String(), p.err)
		} else {
			r.Warn(fmt.Sprintf("keys/%s: %v", p.id.Short(), p.err))
		}
	}
	if err := r.openCache(opts.CacheDir); err != nil {
		return nil, err
	}
	// A local repository reads a tree from its pack as cheaply as from a
	// cached copy of the pack: the cache is for remote ones.
	if opts.FileCacheBytes > 0 || opts.FileCacheBytes == 0 && r.Connections() > 0 {
		max := opts.FileCacheBytes
		if max == 0 {
			max = DefaultFileCacheBytes
		}
		// Beside badger's files, even when badger had to use a private
		// cache: entries are shared safely between processes.
		dir := filepath.Join(r.cacheDir, "files")
		if opts.CacheDir != "" {
			dir = filepath.Join(opts.CacheDir, r.cfg.ID.String(), "files")
		}
		r.files = &fileCache{dir: dir, key: r.key, maxBytes: max}
		r.files.dropLegacy()
	}
	if err := r.loadDamage(); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.SyncIndex(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Repository) openCache(base string) error {
	if base != "" {
		dir := filepath.Join(base, r.cfg.ID.String())
		db, err := index.OpenDB(dir)
		if err == nil {
			r.idx, r.cacheDir = db, dir
			return nil
		}
		if errors.Is(err, index.ErrLocked) {
			r.Warn(fmt.Sprintf("cache %s is in use by another arca process; using a private cache for this run", dir))
		} else {
			r.Warn(fmt.Sprintf("cannot use the cache: %v; using a private cache for this run", err))
		}
	}
	tmp, err := os.MkdirTemp("", privateCachePrefix)
	if err != nil {
		return fmt.Errorf("repo: temporary cache: %w", err)
	}
	db, err := index.OpenDB(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	r.idx, r.cacheDir, r.tempDir = db, tmp, tmp
	return nil
}

// Close closes the local cache. The backend is left open.
func (r *Repository) Close() error {
	r.files.trim()
	var err error
	if r.idx != nil {
		err = r.idx.Close()
		r.idx = nil
	}
	if r.tempDir != "" {
		os.RemoveAll(r.tempDir)
	}
	return err
}

// Now returns the current time (OpenOptions.Now).
func (r *Repository) Now() time.Time { return r.now() }

// Config returns the repository's configuration.
func (r *Repository) Config() Config { return r.cfg }

// Key returns the master key, for tests that forge files; everything
// else seals, opens and names blobs through the repository's methods.
func (r *Repository) Key() *crypto.Key { return r.key }

// Connections returns the calls in flight the backend allows (its
// connections), 0 when it sets no bound (a local directory).
func (r *Repository) Connections() int {
	if l, ok := backend.Ability[backend.Limited](r.be); ok {
		return l.Connections()
	}
	return 0
}

// NewIDHasher returns a hasher of blob IDs, for one goroutine.
func (r *Repository) NewIDHasher() *crypto.IDHasher { return r.key.NewIDHasher() }

// BlobID returns the ID of a blob of content data.
func (r *Repository) BlobID(data []byte) crypto.ID { return r.key.BlobID(data) }

// NewOpener returns an Opener that verifies and opens blobs read from
// their packs (keeping the last group it opened).
func (r *Repository) NewOpener() *pack.Opener {
	return pack.NewOpener(r.key, r.key.NewIDHasher())
}

// Location describes where the repository is, for messages.
func (r *Repository) Location() string { return r.be.Location() }

// KeyID returns the ID of the key file that opened the repository.
func (r *Repository) KeyID() crypto.ID { return r.keyID }

// CacheDir returns the directory of the local cache in use.
func (r *Repository) CacheDir() string { return r.cacheDir }

// Lookup returns the location of a blob: its first copy not known to be
// missing or damaged, or its first copy if all are.
func (r *Repository) Lookup(t pack.BlobType, id crypto.ID) (Location, bool, error) {
	loc, ok, err := r.idx.Lookup(t, id)
	if err != nil || !ok {
		return Location{}, false, err
	}
	if r.usable(loc) {
		return loc, true, nil // the common case: one read, no scan for copies
	}
	locs, err := r.idx.LookupAll(t, id)
	if err != nil || len(locs) == 0 {
		return Location{}, false, err
	}
	for _, l := range locs {
		if r.usable(l) {
			return l, true, nil
		}
	}
	return locs[0], true, nil
}

// Copies returns every indexed copy of a blob, usable ones first.
func (r *Repository) Copies(t pack.BlobType, id crypto.ID) ([]Location, error) {
	locs, err := r.idx.LookupAll(t, id)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(locs, func(a, b Location) int {
		ua, ub := r.usable(a), r.usable(b)
		switch {
		case ua == ub:
			return 0
		case ua:
			return -1
		}
		return 1
	})
	return locs, nil
}
