package backend

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// FileType groups the files of a repository.
type FileType uint8

// File types. Their directory names are part of the format.
const (
	ConfigFile FileType = iota + 1
	KeyFile
	PackFile
	IndexFile
	SnapshotFile
	LockFile
	PruneFile // candidate lists of two-phase garbage collection (format version 2)
)

// AllTypes lists the file types, for iteration.
var AllTypes = []FileType{ConfigFile, KeyFile, PackFile, IndexFile, SnapshotFile, LockFile, PruneFile}

// Dir returns the directory the type's files live in ("" for the config).
func (t FileType) Dir() string {
	switch t {
	case ConfigFile:
		return ""
	case KeyFile:
		return "keys"
	case PackFile:
		return "data"
	case IndexFile:
		return "index"
	case SnapshotFile:
		return "snapshots"
	case LockFile:
		return "locks"
	case PruneFile:
		return "prune"
	}
	return fmt.Sprintf("filetype%d", uint8(t))
}

func (t FileType) String() string {
	if t == ConfigFile {
		return "config"
	}
	return t.Dir()
}

// Handle names one file.
type Handle struct {
	Type FileType
	Name string // empty for the config
}

func (h Handle) String() string {
	if h.Type == ConfigFile {
		return "config"
	}
	return h.Type.Dir() + "/" + h.Name
}

// FileInfo describes a stored file.
type FileInfo struct {
	Name string
	Size int64
	// ModTime is when the storage stored the file, by the storage's
	// clock; zero when the backend cannot tell.
	ModTime time.Time
}

// Source is the content of a file to save. It can be read any number of
// times; *bytes.Reader and *io.SectionReader are Sources.
type Source interface {
	io.ReaderAt
	Size() int64
}

// Bytes returns a Source for b.
func Bytes(b []byte) Source { return bytes.NewReader(b) }

// ReadSource returns all of src.
func ReadSource(src Source) ([]byte, error) {
	b := make([]byte, src.Size())
	if _, err := src.ReadAt(b, 0); err != nil && !(err == io.EOF && len(b) == 0) {
		return nil, err
	}
	return b, nil
}

// ErrNotExist is wrapped by errors about files that do not exist.
var ErrNotExist = errors.New("backend: file does not exist")

// ErrPermanent is wrapped by errors that repeating the call cannot cure:
// credentials refused, permission denied, a request the server rejects as
// malformed. Retrying decorators give up at once on them.
var ErrPermanent = errors.New("backend: permanent failure")

// ErrNoRepository is returned when opening a location that holds no
// repository.
var ErrNoRepository = errors.New("backend: no repository at this location")

// Backend stores a repository's files. See the package documentation for
// the contract. Implementations are safe for concurrent use.
type Backend interface {
	// Location describes where the files are, for messages.
	Location() string
	// Save stores the content of src under h atomically and durably,
	// replacing what h held (only the config is ever replaced). src may be
	// read more than once (for retries).
	Save(ctx context.Context, h Handle, src Source) error
	// Load returns length bytes of h starting at offset; length 0 means to
	// the end. Reading past the end returns what there is and no error
	// only if offset is inside the file.
	Load(ctx context.Context, h Handle, offset, length int64) (io.ReadCloser, error)
	// Stat returns the size of h.
	Stat(ctx context.Context, h Handle) (FileInfo, error)
	// List calls fn for each file of type t, in no particular order. A
	// type that holds no file yet lists nothing; any other failure to
	// list is an error, never an empty listing.
	List(ctx context.Context, t FileType, fn func(FileInfo) error) error
	// Remove deletes h. Removing a missing file returns ErrNotExist.
	Remove(ctx context.Context, h Handle) error
	// Close releases resources.
	Close() error
}

// TempCleaner is implemented by backends whose saves can leave temporary
// files behind when a process is killed mid-save.
type TempCleaner interface {
	// CleanTemp removes such files last changed before cutoff and returns
	// how many it removed. A save still writing keeps changing its file;
	// one whose file was removed fails rather than store something partial.
	CleanTemp(ctx context.Context, cutoff time.Time) (int, error)
}

// CheapLister is implemented by backends that can list every pack at a
// cost that does not matter next to a backup (a local directory), so a
// write session compares the packs with the index every time.
type CheapLister interface {
	CheapList() bool
}

// ReadAll loads a whole file.
func ReadAll(ctx context.Context, b Backend, h Handle) ([]byte, error) {
	rd, err := b.Load(ctx, h, 0, 0)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", h, err)
	}
	return data, nil
}

// ReadAt loads exactly len(p) bytes of h at offset into p.
func ReadAt(ctx context.Context, b Backend, h Handle, p []byte, offset int64) error {
	rd, err := b.Load(ctx, h, offset, int64(len(p)))
	if err != nil {
		return err
	}
	defer rd.Close()
	if _, err := io.ReadFull(rd, p); err != nil {
		return fmt.Errorf("read %s at %d+%d: %w", h, offset, len(p), err)
	}
	return nil
}

// ReaderAt adapts one file of a Backend to io.ReaderAt.
type ReaderAt struct {
	Ctx     context.Context
	Backend Backend
	Handle  Handle
}

// ReadAt implements io.ReaderAt.
func (r ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := ReadAt(r.Ctx, r.Backend, r.Handle, p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Limited is implemented by backends that bound the calls in flight (a
// remote backend's connections): the layers above size their pools of
// uploads and reads to it, to keep a distant link busy.
type Limited interface {
	Connections() int
}

// Wrapper is implemented by decorators (retries, limits, counting): Unwrap
// returns the Backend they wrap.
type Wrapper interface {
	Unwrap() Backend
}

// Ability returns b, or the first backend beneath b's decorators, that
// implements T (TempCleaner, CheapLister), so that decorating a backend
// does not hide what it can do.
func Ability[T any](b Backend) (T, bool) {
	for b != nil {
		if t, ok := b.(T); ok {
			return t, true
		}
		w, ok := b.(Wrapper)
		if !ok {
			break
		}
		b = w.Unwrap()
	}
	var zero T
	return zero, false
}

// Path returns the slash-separated path of h inside a repository, the
// same for every backend (docs/format.md): "config", "keys/<name>",
// "data/<first 2 characters>/<name>", ...
func Path(h Handle) string {
	switch h.Type {
	case ConfigFile:
		return "config"
	case PackFile:
		sub := "00"
		if len(h.Name) >= 2 {
			sub = h.Name[:2]
		}
		return "data/" + sub + "/" + h.Name
	}
	return h.Type.Dir() + "/" + h.Name
}

// CheckName refuses a name that is not one plain path element.
func CheckName(h Handle) error {
	if h.Type == ConfigFile {
		return nil
	}
	if h.Name == "" || strings.ContainsAny(h.Name, `/\`) || h.Name == "." || h.Name == ".." {
		return fmt.Errorf("invalid file name %q: %w", h.Name, ErrPermanent)
	}
	return nil
}

// ListConfig is List for ConfigFile: the config, if it exists.
func ListConfig(ctx context.Context, b Backend, fn func(FileInfo) error) error {
	fi, err := b.Stat(ctx, Handle{Type: ConfigFile})
	if errors.Is(err, ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	return fn(fi)
}

// HTTPOptions are the settings every HTTP backend (s3, rest) takes.
type HTTPOptions struct {
	// Connections bounds the requests in flight (0: DefaultConnections).
	Connections int
	// TLS, if not nil, configures HTTPS (extra root certificates).
	TLS *tls.Config
	// Transport, if not nil, carries the requests (tests, rclone's stdio).
	Transport http.RoundTripper
}

// DefaultConnections is the number of requests in flight of a remote
// backend by default.
const DefaultConnections = 8

// RoundTripper returns o.Transport, or a transport for o's connections and
// TLS settings.
func (o HTTPOptions) RoundTripper() http.RoundTripper {
	if o.Transport != nil {
		return o.Transport
	}
	conns := o.Connections
	if conns <= 0 {
		conns = DefaultConnections
	}
	return NewHTTPTransport(conns, o.TLS)
}

// NewHTTPTransport returns the HTTP transport of a remote backend: at most
// conns connections to its server, tlsConfig (nil: the defaults) for HTTPS.
func NewHTTPTransport(conns int, tlsConfig *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   30 * time.Second,
		TLSClientConfig:       tlsConfig,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// Sleep waits for d or until ctx is done, whichever comes first, and
// returns ctx's error in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
