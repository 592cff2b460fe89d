// Package s3 stores a repository in a bucket of S3-compatible object
// storage (AWS S3, MinIO, Ceph, Garage, versitygw...) with
// github.com/minio/minio-go/v7, in the layout of a local repository under
// an optional prefix. The server checks every upload, so a corrupted upload
// is rejected rather than stored: over plain http against the chunk
// signatures of SigV4 streaming, over https against a Content-MD5. A PUT
// is atomic.
package s3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config says where the bucket is and how to reach it.
type Config struct {
	Endpoint string // host[:port]
	Insecure bool   // plain http
	Bucket   string
	Prefix   string // inside the bucket, without slashes at either end
	Region   string
	// BucketLookup is "auto", "dns" (virtual-host style) or "path".
	BucketLookup string
	// KeyID, Secret and Token, when KeyID is set, are the credentials;
	// otherwise they come from ~/.aws/credentials (profile Profile) and
	// then the instance's IAM role.
	KeyID, Secret, Token string
	Profile              string
	backend.HTTPOptions
}

// ParseLocation parses "s3:https://host[:port]/bucket[/prefix]",
// "s3:http://..." and "s3:host[:port]/bucket[/prefix]" (https). getenv
// supplies AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
// AWS_DEFAULT_REGION and AWS_PROFILE.
func ParseLocation(loc string, getenv func(string) string) (Config, error) {
	s, ok := strings.CutPrefix(loc, "s3:")
	if !ok {
		return Config{}, fmt.Errorf("s3: %q is not an s3: location", loc)
	}
	var cfg Config
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return Config{}, fmt.Errorf("s3: location %q: %w", loc, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return Config{}, fmt.Errorf("s3: location %q: scheme %q; want http or https", loc, u.Scheme)
		}
		cfg.Endpoint, cfg.Insecure, s = u.Host, u.Scheme == "http", u.Path
	} else {
		var found bool
		cfg.Endpoint, s, found = strings.Cut(s, "/")
		if !found {
			s = ""
		}
	}
	s = strings.Trim(s, "/")
	cfg.Bucket, cfg.Prefix, _ = strings.Cut(s, "/")
	cfg.Prefix = strings.Trim(path.Clean("/"+cfg.Prefix), "/")
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return Config{}, fmt.Errorf("s3: location %q: want s3:https://host[:port]/bucket[/prefix]", loc)
	}
	if getenv != nil {
		cfg.KeyID, cfg.Secret, cfg.Token = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN")
		cfg.Region, cfg.Profile = getenv("AWS_DEFAULT_REGION"), getenv("AWS_PROFILE")
	}
	cfg.BucketLookup = "auto"
	return cfg, nil
}

// Backend is a repository in a bucket.
type Backend struct {
	c      *minio.Client
	bucket string
	prefix string
	shown  string
	// md5: send a Content-MD5 with each upload, over https only, where
	// minio-go leaves the payload unsigned. Over plain http the payload
	// is signed chunk by chunk (SHA-256), which the server checks
	// already; an MD5 too cost 0.3 CPU seconds per 70 MB uploaded
	// (TestCorruptUploadRejected fails with neither).
	md5 bool
}

func newBackend(cfg Config) (*Backend, error) {
	var creds *credentials.Credentials
	if cfg.KeyID != "" {
		creds = credentials.NewStaticV4(cfg.KeyID, cfg.Secret, cfg.Token)
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.FileAWSCredentials{Profile: cfg.Profile},
			&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport}},
		})
	}
	lookup := minio.BucketLookupAuto
	switch cfg.BucketLookup {
	case "", "auto":
	case "dns":
		lookup = minio.BucketLookupDNS
	case "path":
		lookup = minio.BucketLookupPath
	default:
		return nil, fmt.Errorf("s3: bucket lookup %q; want auto, dns or path", cfg.BucketLookup)
	}
	tr := cfg.RoundTripper()
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds: creds, Secure: !cfg.Insecure, Region: cfg.Region, BucketLookup: lookup, Transport: tr,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %s: %w", cfg.Endpoint, err)
	}
	scheme := "https://"
	if cfg.Insecure {
		scheme = "http://"
	}
	shown := "s3:" + scheme + cfg.Endpoint + "/" + cfg.Bucket
	if cfg.Prefix != "" {
		shown += "/" + cfg.Prefix
	}
	return &Backend{c: c, bucket: cfg.Bucket, prefix: cfg.Prefix, shown: shown, md5: !cfg.Insecure}, nil
}

// Open returns a Backend for the repository at cfg. It asks nothing of
// the server: opening a repository reads its config first.
func Open(cfg Config) (*Backend, error) { return newBackend(cfg) }

// Create makes the bucket if it does not exist and returns a Backend for
// the repository, refusing a location that holds a config already.
func Create(ctx context.Context, cfg Config) (*Backend, error) {
	b, err := newBackend(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := b.Stat(ctx, backend.Handle{Type: backend.ConfigFile}); err == nil {
		return nil, fmt.Errorf("s3: %s already holds a repository", b.shown)
	} else if !errors.Is(err, backend.ErrNotExist) {
		return nil, err
	}
	ok, err := b.c.BucketExists(ctx, b.bucket)
	if err != nil {
		return nil, b.mapErr(ctx, "bucket "+b.bucket, err)
	}
	if !ok {
		if err := b.c.MakeBucket(ctx, b.bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			return nil, b.mapErr(ctx, "make bucket "+b.bucket, err)
		}
	}
	return b, nil
}

// Location implements backend.Backend.
func (b *Backend) Location() string { return b.shown }

func (b *Backend) dir(t backend.FileType) string {
	return path.Join(b.prefix, t.Dir()) + "/"
}

func (b *Backend) key(h backend.Handle) string { return path.Join(b.prefix, backend.Path(h)) }

func validName(h backend.Handle) error {
	if err := backend.CheckName(h); err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	return nil
}

// mapErr maps minio's errors onto the backend's, naming what.
func (b *Backend) mapErr(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", err, cerr)
	}
	resp := minio.ToErrorResponse(err)
	var cert *tls.CertificateVerificationError
	switch {
	case errors.As(err, &cert):
		return fmt.Errorf("s3: %s: %w (%w)", what, err, backend.ErrPermanent)
	case resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket":
		return fmt.Errorf("s3: %s: %w", what, backend.ErrNotExist)
	case resp.Code == "NoSuchBucket":
		return fmt.Errorf("s3: %s: bucket %s does not exist: %w", what, b.bucket, backend.ErrNoRepository)
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized ||
		resp.StatusCode == http.StatusBadRequest || resp.Code == "AccessDenied" || resp.Code == "InvalidAccessKeyId" ||
		resp.Code == "SignatureDoesNotMatch" || resp.Code == "BadDigest" || resp.Code == "InvalidDigest":
		return fmt.Errorf("s3: %s: %w (%w)", what, err, backend.ErrPermanent)
	}
	return fmt.Errorf("s3: %s: %w", what, err)
}

// Save implements backend.Backend.
func (b *Backend) Save(ctx context.Context, h backend.Handle, src backend.Source) error {
	if err := validName(h); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := b.c.PutObject(ctx, b.bucket, b.key(h), io.NewSectionReader(src, 0, src.Size()), src.Size(),
		minio.PutObjectOptions{ContentType: "application/octet-stream", SendContentMd5: b.md5})
	if err != nil {
		return b.mapErr(ctx, "save "+h.String(), err)
	}
	return nil
}

// Load implements backend.Backend.
func (b *Backend) Load(ctx context.Context, h backend.Handle, offset, length int64) (io.ReadCloser, error) {
	if err := validName(h); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("s3: %s: invalid range %d+%d: %w", h, offset, length, backend.ErrPermanent)
	}
	opts := minio.GetObjectOptions{}
	switch {
	case length > 0:
		if err := opts.SetRange(offset, offset+length-1); err != nil {
			return nil, err
		}
	case offset > 0:
		if err := opts.SetRange(offset, 0); err != nil {
			return nil, err
		}
	}
	rd, _, _, err := minio.Core{Client: b.c}.GetObject(ctx, b.bucket, b.key(h), opts)
	if err != nil {
		if minio.ToErrorResponse(err).StatusCode == http.StatusRequestedRangeNotSatisfiable {
			// A range that starts at the very end is an empty read.
			if fi, serr := b.Stat(ctx, h); serr == nil && fi.Size == offset {
				return io.NopCloser(strings.NewReader("")), nil
			}
			return nil, fmt.Errorf("s3: %s: range %d+%d outside the file", h, offset, length)
		}
		return nil, b.mapErr(ctx, "load "+h.String(), err)
	}
	return rd, nil
}

// Stat implements backend.Backend.
func (b *Backend) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := validName(h); err != nil {
		return backend.FileInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return backend.FileInfo{}, err
	}
	oi, err := b.c.StatObject(ctx, b.bucket, b.key(h), minio.StatObjectOptions{})
	if err != nil {
		return backend.FileInfo{}, b.mapErr(ctx, "stat "+h.String(), err)
	}
	return backend.FileInfo{Name: h.Name, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// List implements backend.Backend.
func (b *Backend) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t == backend.ConfigFile {
		return backend.ListConfig(ctx, b, fn)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dir := b.dir(t)
	for oi := range b.c.ListObjects(lctx, b.bucket, minio.ListObjectsOptions{Prefix: dir, Recursive: true}) {
		if oi.Err != nil {
			return b.mapErr(ctx, "list "+t.String(), oi.Err)
		}
		rel := strings.TrimPrefix(oi.Key, dir)
		name := path.Base(rel)
		if t == backend.PackFile {
			if sub, _, ok := strings.Cut(rel, "/"); !ok || !strings.HasPrefix(name, sub) || strings.Count(rel, "/") != 1 {
				continue // not where a pack of that name belongs
			}
		} else if strings.Contains(rel, "/") {
			continue
		}
		if err := fn(backend.FileInfo{Name: name, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Remove implements backend.Backend. S3 answers the deletion of a missing
// object with success, so Remove asks first.
func (b *Backend) Remove(ctx context.Context, h backend.Handle) error {
	if _, err := b.Stat(ctx, h); err != nil {
		return err
	}
	if err := b.c.RemoveObject(ctx, b.bucket, b.key(h), minio.RemoveObjectOptions{}); err != nil {
		return b.mapErr(ctx, "remove "+h.String(), err)
	}
	return nil
}

// Close implements backend.Backend.
func (b *Backend) Close() error { return nil }
