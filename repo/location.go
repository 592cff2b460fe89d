package repo

import (
	"fmt"
	"strings"

	"github.com/arcabackup/arca/repo/backend"
	"github.com/arcabackup/arca/repo/backend/local"
)

// BackendOptions configure the backend a location opens.
type BackendOptions struct {
	// Warn receives what the backend notices but does not fail on (such
	// as a file where no file of its kind belongs). May be nil.
	Warn func(msg string)
}

// localPath returns the directory of a local location ("local:/path" or
// a path), or an error for a location of another kind.
func localPath(location string) (string, error) {
	if p, ok := strings.CutPrefix(location, "local:"); ok {
		return p, nil
	}
	for _, scheme := range []string{"s3:", "sftp:", "rest:", "rclone:"} {
		if strings.HasPrefix(location, scheme) {
			return "", fmt.Errorf("repo: repository %q: only local repositories are supported in this version", location)
		}
	}
	if i := strings.Index(location, "://"); i > 0 {
		return "", fmt.Errorf("repo: repository %q: only local repositories are supported in this version", location)
	}
	return location, nil
}

// OpenBackend opens the storage of the repository at location: a
// directory path or "local:PATH". It wraps backend.ErrNoRepository when
// nothing is there.
func OpenBackend(location string, opts BackendOptions) (backend.Backend, error) {
	p, err := localPath(location)
	if err != nil {
		return nil, err
	}
	be, err := local.Open(p)
	if err != nil {
		return nil, err
	}
	be.Warn = opts.Warn
	return be, nil
}

// CreateBackend prepares the storage at location for Init. undo removes
// what it made, for an Init that failed.
func CreateBackend(location string, opts BackendOptions) (be backend.Backend, undo func(), err error) {
	p, err := localPath(location)
	if err != nil {
		return nil, nil, err
	}
	lb, err := local.Create(p)
	if err != nil {
		return nil, nil, err
	}
	lb.Warn = opts.Warn
	return lb, lb.RemoveCreated, nil
}
