package repo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/count"
	"github.com/arcabackup/arca/repo/backend/limit"
	"github.com/arcabackup/arca/repo/backend/local"
	"github.com/arcabackup/arca/repo/backend/rclone"
	"github.com/arcabackup/arca/repo/backend/rest"
	"github.com/arcabackup/arca/repo/backend/retry"
	"github.com/arcabackup/arca/repo/backend/s3"
	"github.com/arcabackup/arca/repo/backend/sftp"
)

// BackendOptions configure the backend a location opens.
type BackendOptions struct {
	// Warn receives what the backend notices but does not fail on (such
	// as a file where no file of its kind belongs). May be nil.
	Warn func(msg string)
	// Options are the backend's settings (-o KEY=VALUE), keyed by the
	// backend's name: "s3.region", "sftp.command", "rest.connections".
	Options map[string]string
	// Getenv reads the environment (credentials); nil reads none.
	Getenv func(string) string
	// Upload and Download bound the average rates of a remote backend in
	// bytes per second (0: unbounded).
	Upload, Download int64
	// RetryReport, if not nil, is told of each retry of a remote backend.
	RetryReport func(msg string)
	// CACerts are PEM files of root certificates that HTTPS servers (s3:,
	// rest:) may also be signed by, besides the system's.
	CACerts []string
}

// tlsConfig returns the TLS configuration of o, nil for the default.
func (o BackendOptions) tlsConfig() (*tls.Config, error) {
	if len(o.CACerts) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range o.CACerts {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("repo: --cacert: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("repo: --cacert %s: no PEM certificate in it", f)
		}
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// RequestCounts are the requests and bytes a backend counted.
type RequestCounts = count.Counts

// Requests returns what the backend OpenBackend or CreateBackend returned
// counted so far.
func Requests(be backend.Backend) (RequestCounts, bool) {
	c, ok := backend.Ability[*count.Backend](be)
	if !ok {
		return RequestCounts{}, false
	}
	return c.Counts(), true
}

// scheme is one kind of location: how to parse it, and which options it
// takes.
type scheme struct {
	name    string
	options []string // without the "name." prefix
	// open opens or creates the backend at loc; conns is its validated
	// connections option.
	open func(ctx context.Context, loc string, o BackendOptions, conns int, create bool) (be backend.Backend, undo func(), err error)
}

// schemes is the registry of locations, in the order they are tried; a
// location with no known prefix is a local path.
var schemes = []scheme{
	{name: "local", open: openLocal},
	{name: "s3", options: []string{"connections", "region", "bucket-lookup"}, open: openS3},
	{name: "sftp", options: []string{"connections", "command", "args"}, open: openSFTP},
	{name: "rest", options: []string{"connections"}, open: openREST},
	{name: "rclone", options: []string{"connections", "program", "args"}, open: openRclone},
}

// findScheme returns the scheme of location.
func findScheme(location string) (scheme, error) {
	for _, s := range schemes {
		if strings.HasPrefix(location, s.name+":") {
			return s, nil
		}
	}
	if i := strings.Index(location, "://"); i > 0 && !strings.ContainsAny(location[:i], "/.") {
		return scheme{}, fmt.Errorf("repo: repository %q: unknown kind of location %q (want local:, s3:, sftp:, rest: or rclone:)", location, location[:i])
	}
	return scheme{name: "local", open: openLocal}, nil
}

// LocationKind returns the kind of a location: "local", "s3", "sftp" or
// "rest" or "rclone".
func LocationKind(location string) (string, error) {
	s, err := findScheme(location)
	return s.name, err
}

// checkOptions refuses options the scheme does not take.
func (s scheme) checkOptions(opts map[string]string) error {
	for k := range opts {
		kind, name, _ := strings.Cut(k, ".")
		if kind != s.name || !slices.Contains(s.options, name) {
			valid := "none"
			if len(s.options) > 0 {
				valid = s.name + "." + strings.Join(s.options, ", "+s.name+".")
			}
			return fmt.Errorf("repo: option %q does not apply to a %s repository (its options: %s)", k, s.name, valid)
		}
	}
	return nil
}

// OpenBackend opens the storage of the repository at location: a
// directory path, "local:PATH", "s3:...", "sftp:...", "rest:..." or
// "rclone:REMOTE:PATH". It
// wraps backend.ErrNoRepository when nothing is there (where the backend
// can tell without a request). Every backend counts its requests
// (backend.Ability[*count.Backend]); remote ones retry transient failures
// and keep to the limits in opts.
func OpenBackend(ctx context.Context, location string, opts BackendOptions) (backend.Backend, error) {
	s, err := findScheme(location)
	if err != nil {
		return nil, err
	}
	if err := s.checkOptions(opts.Options); err != nil {
		return nil, err
	}
	conns, err := connections(s, opts)
	if err != nil {
		return nil, err
	}
	be, _, err := s.open(ctx, location, opts, conns, false)
	if err != nil {
		return nil, err
	}
	return decorate(s, be, opts, conns), nil
}

// CreateBackend prepares the storage at location for Init. undo removes
// what it made, for an Init that failed.
func CreateBackend(ctx context.Context, location string, opts BackendOptions) (be backend.Backend, undo func(), err error) {
	s, err := findScheme(location)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkOptions(opts.Options); err != nil {
		return nil, nil, err
	}
	conns, err := connections(s, opts)
	if err != nil {
		return nil, nil, err
	}
	be, undo, err = s.open(ctx, location, opts, conns, true)
	if err != nil {
		return nil, nil, err
	}
	if undo == nil {
		undo = func() {}
	}
	return decorate(s, be, opts, conns), undo, nil
}

// decorate stacks the decorators on a backend: counting right above it,
// then (remote only) limits, then retries.
func decorate(s scheme, be backend.Backend, opts BackendOptions, conns int) backend.Backend {
	be = count.New(be)
	if s.name == "local" {
		return be
	}
	be = limit.New(be, limit.Options{Connections: conns, Upload: opts.Upload, Download: opts.Download})
	return retry.New(be, retry.Options{Report: opts.RetryReport})
}

func connections(s scheme, opts BackendOptions) (int, error) {
	v, ok := opts.Options[s.name+".connections"]
	if !ok {
		return backend.DefaultConnections, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1024 {
		return 0, fmt.Errorf("repo: option %s.connections=%q: want a number from 1 to 1024", s.name, v)
	}
	return n, nil
}

func openLocal(_ context.Context, loc string, o BackendOptions, _ int, create bool) (backend.Backend, func(), error) {
	p := strings.TrimPrefix(loc, "local:")
	if create {
		lb, err := local.Create(p)
		if err != nil {
			return nil, nil, err
		}
		lb.Warn = o.Warn
		return lb, lb.RemoveCreated, nil
	}
	lb, err := local.Open(p)
	if err != nil {
		return nil, nil, err
	}
	lb.Warn = o.Warn
	return lb, nil, nil
}

func openS3(ctx context.Context, loc string, o BackendOptions, conns int, create bool) (backend.Backend, func(), error) {
	cfg, err := s3.ParseLocation(loc, o.Getenv)
	if err != nil {
		return nil, nil, err
	}
	if v, ok := o.Options["s3.region"]; ok {
		cfg.Region = v
	}
	if v, ok := o.Options["s3.bucket-lookup"]; ok {
		cfg.BucketLookup = v
	}
	cfg.Connections = conns
	if cfg.TLS, err = o.tlsConfig(); err != nil {
		return nil, nil, err
	}
	if create {
		b, err := s3.Create(ctx, cfg)
		return b, nil, err
	}
	b, err := s3.Open(cfg)
	return b, nil, err
}

func openSFTP(_ context.Context, loc string, o BackendOptions, _ int, create bool) (backend.Backend, func(), error) {
	cfg, err := sftp.ParseLocation(loc)
	if err != nil {
		return nil, nil, err
	}
	if v, ok := o.Options["sftp.command"]; ok {
		if cfg.Command, err = splitCommand(v); err != nil {
			return nil, nil, fmt.Errorf("repo: option sftp.command: %w", err)
		}
	}
	if v, ok := o.Options["sftp.args"]; ok {
		if cfg.Args, err = splitCommand(v); err != nil {
			return nil, nil, fmt.Errorf("repo: option sftp.args: %w", err)
		}
	}
	if create {
		b, err := sftp.Create(cfg)
		return b, nil, err
	}
	b, err := sftp.Open(cfg)
	return b, nil, err
}

func openREST(ctx context.Context, loc string, o BackendOptions, conns int, create bool) (backend.Backend, func(), error) {
	cfg, err := rest.ParseLocation(loc, o.Getenv)
	if err != nil {
		return nil, nil, err
	}
	cfg.Connections = conns
	if cfg.TLS, err = o.tlsConfig(); err != nil {
		return nil, nil, err
	}
	if create {
		b, err := rest.Create(ctx, cfg)
		return b, nil, err
	}
	return rest.Open(cfg), nil, nil
}

func openRclone(ctx context.Context, loc string, o BackendOptions, _ int, create bool) (backend.Backend, func(), error) {
	cfg, err := rclone.ParseLocation(loc)
	if err != nil {
		return nil, nil, err
	}
	if v, ok := o.Options["rclone.program"]; ok {
		cfg.Program = v
	}
	if v, ok := o.Options["rclone.args"]; ok {
		if cfg.Args, err = splitCommand(v); err != nil {
			return nil, nil, fmt.Errorf("repo: option rclone.args: %w", err)
		}
	}
	if create {
		b, err := rclone.Create(ctx, cfg)
		return b, nil, err
	}
	b, err := rclone.Open(cfg)
	return b, nil, err
}

// splitCommand splits a command line into words the way a shell does for
// plain words and single- or double-quoted ones (no expansions).
func splitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, c := range s {
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return words, nil
}
