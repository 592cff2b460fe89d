package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backend"
	"github.com/spf13/cobra"
)

// backendFlags are the settings of the storage a repository lives on.
type backendFlags struct {
	options       []string // -o KEY=VALUE
	limitUpload   int      // KiB/s
	limitDownload int      // KiB/s
	caCerts       []string
	// perKind: the command opens repositories of several kinds (copy), so
	// an option applies to the repositories of its kind only.
	perKind bool
}

func (a *app) addBackendFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringArrayVarP(&a.be.options, "option", "o", nil, "set a backend option KEY=VALUE (s3.region, s3.bucket-lookup, s3.connections, sftp.command, sftp.args, sftp.connections, rest.connections, rclone.program, rclone.args, rclone.connections); repeatable")
	f.StringArrayVar(&a.be.caCerts, "cacert", nil, "also trust the root certificates in this PEM file for HTTPS repositories (s3:, rest:); repeatable")
	f.IntVar(&a.be.limitUpload, "limit-upload", 0, "limit uploads to a remote repository to this many KiB/s on average (0: no limit)")
	f.IntVar(&a.be.limitDownload, "limit-download", 0, "limit downloads from a remote repository to this many KiB/s on average (0: no limit)")
}

// backendOptions turns the flags into the options of the backend at loc.
func (a *app) backendOptions(loc string) (repo.BackendOptions, error) {
	o := repo.BackendOptions{Warn: a.warnf, Getenv: a.getenv, Options: map[string]string{}, CACerts: a.be.caCerts}
	kind, _ := repo.LocationKind(loc)
	for _, kv := range a.be.options {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return o, fmt.Errorf("option %q: want KEY=VALUE", kv)
		}
		if prefix, _, _ := strings.Cut(k, "."); a.be.perKind && prefix != kind && slices.Contains([]string{"local", "s3", "sftp", "rest", "rclone"}, prefix) {
			continue
		}
		o.Options[k] = v
	}
	if a.be.limitUpload < 0 || a.be.limitDownload < 0 {
		return o, fmt.Errorf("--limit-upload and --limit-download take a rate of 0 or more KiB/s")
	}
	o.Upload, o.Download = int64(a.be.limitUpload)<<10, int64(a.be.limitDownload)<<10
	if a.verbose > 0 {
		o.RetryReport = a.warnf
	}
	return o, nil
}

// openBackendAt opens the backend at location loc.
func (a *app) openBackendAt(ctx context.Context, loc string) (backend.Backend, error) {
	opts, err := a.backendOptions(loc)
	if err != nil {
		return nil, err
	}
	be, err := repo.OpenBackend(ctx, loc, opts)
	if err != nil {
		return nil, err
	}
	a.backends = append(a.backends, be)
	return be, nil
}

// requests sums what the backends this command opened counted.
func (a *app) requests() (repo.RequestCounts, bool) {
	var sum repo.RequestCounts
	found := false
	for _, be := range a.backends {
		if c, ok := repo.Requests(be); ok {
			sum = sum.Add(c)
			found = true
		}
	}
	return sum, found
}

// byType lists the requests per file type, every type named.
func byType(c repo.RequestCounts) string {
	var sb strings.Builder
	for _, t := range backend.AllTypes {
		fmt.Fprintf(&sb, " %s %d", t, c.ByType[t.String()])
	}
	return sb.String()
}
