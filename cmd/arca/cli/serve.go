package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/arcabackup/arca/repo/server"
	"github.com/spf13/cobra"
)

func (a *app) serveCommand() *cobra.Command {
	var (
		path, listen, htpasswd, tlsCert, tlsKey, defPerm, maxUpload string
		perms                                                       []string
		noAuth, private                                             bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve repositories over HTTP(S) to arca's rest: backend",
		Long: `serve makes the repositories under --path reachable over HTTP(S) with the REST
protocol version 2 of restic's rest-server: a client opens the repository at
--path/a/b as rest:https://host:port/a/b/ (init creates it).

Users come from an htpasswd file of bcrypt entries (htpasswd -B); each is
read-only, append-only or full (--default-permission, --permission USER=PERM).
An append-only user may create a repository and add packs, index files,
snapshots and heartbeats, and remove only its own heartbeats: it can back up,
but forget, prune, tag and key changes are refused, and nothing is ever
replaced or deleted for it. With --private-repos a user reaches only the
repositories under /USER/. Every upload is checked against its name (the
BLAKE3 of its content) before it takes the name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := server.Options{Root: path, PrivateRepos: private}
			var err error
			if opts.Default, err = server.ParsePermission(defPerm); err != nil {
				return err
			}
			opts.Permissions = map[string]server.Permission{}
			for _, p := range perms {
				user, perm, ok := strings.Cut(p, "=")
				if !ok || user == "" {
					return fmt.Errorf("--permission %q: want USER=read-only|append-only|full", p)
				}
				if opts.Permissions[user], err = server.ParsePermission(perm); err != nil {
					return err
				}
			}
			if maxUpload != "" {
				if opts.MaxUpload, err = parseSize(maxUpload); err != nil {
					return fmt.Errorf("--max-upload: %w", err)
				}
			}
			switch {
			case htpasswd != "":
				f, err := os.Open(htpasswd)
				if err != nil {
					return err
				}
				opts.Users, err = server.ParseHtpasswd(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", htpasswd, err)
				}
			case !noAuth:
				return errors.New("serve needs --htpasswd FILE, or --no-auth to let anyone in with --default-permission")
			case private:
				return errors.New("--private-repos needs users (--htpasswd)")
			}
			if (tlsCert == "") != (tlsKey == "") {
				return errors.New("--tls-cert and --tls-key go together")
			}
			if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
				return fmt.Errorf("--path %s: not a directory", path)
			}
			opts.Log = func(msg string) {
				if a.verbose > 0 {
					fmt.Fprintln(a.stderr, msg)
				}
			}
			h, err := server.New(opts)
			if err != nil {
				return err
			}
			return a.serve(cmd.Context(), h, listen, tlsCert, tlsKey, path)
		},
	}
	f := cmd.Flags()
	f.StringVar(&path, "path", ".", "the directory the repositories live in")
	f.StringVar(&listen, "listen", "127.0.0.1:8000", "address to listen on (host:port)")
	f.StringVar(&htpasswd, "htpasswd", "", "users and their bcrypt password hashes (htpasswd -B)")
	f.BoolVar(&noAuth, "no-auth", false, "serve without authentication")
	f.StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	f.StringVar(&tlsKey, "tls-key", "", "the certificate's private key (PEM)")
	f.StringVar(&defPerm, "default-permission", "full", "permission of users --permission does not name: read-only, append-only or full")
	f.StringArrayVar(&perms, "permission", nil, "USER=read-only|append-only|full (repeatable)")
	f.BoolVar(&private, "private-repos", false, "each user reaches only the repositories under /USER/")
	f.StringVar(&maxUpload, "max-upload", "", "largest upload accepted (SIZE; default 1025M)")
	return cmd
}

// serve listens on addr and serves h until ctx ends.
func (a *app) serve(ctx context.Context, h http.Handler, addr, cert, key, dir string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute}
	scheme := "http"
	if cert != "" {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s/", scheme, l.Addr())
	if a.json {
		a.printJSON(map[string]any{"message_type": "serving", "url": url, "path": dir})
	} else {
		a.printf("serving %s at %s\n", dir, url)
	}
	errc := make(chan error, 1)
	go func() {
		if cert != "" {
			errc <- srv.ServeTLS(l, cert, key)
		} else {
			errc <- srv.Serve(l)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	}
}
