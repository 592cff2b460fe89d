package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/spf13/cobra"
)

func (a *app) initCommand() *cobra.Command {
	var compression string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			comp, err := pack.ParseCompression(compression)
			if err != nil {
				return err
			}
			if err := a.kdf.Validate(); err != nil {
				return err
			}
			loc, _, err := a.location()
			if err != nil {
				return err
			}
			pw, err := a.password(true)
			if err != nil {
				return err
			}
			cfg, err := a.initRepo(cmd.Context(), loc, pw, comp)
			if err != nil {
				return err
			}
			if a.json {
				a.printJSON(map[string]any{"message_type": "initialized", "id": cfg.ID, "repository": loc})
				return nil
			}
			a.printf("created arca repository %s at %s\n", cfg.ID.Short(), loc)
			a.printf("Keep the password safe: without it the data cannot be read.\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&compression, "compression", "auto", "default compression: off, auto or max")
	a.addKDFFlags(cmd)
	return cmd
}

func (a *app) initRepo(ctx context.Context, loc string, pw []byte, comp pack.Compression) (repo.Config, error) {
	opts, err := a.backendOptions(loc)
	if err != nil {
		return repo.Config{}, err
	}
	be, undo, err := repo.CreateBackend(ctx, loc, opts)
	if err != nil {
		return repo.Config{}, err
	}
	a.backends = append(a.backends, be)
	host, user := identity()
	cfg, err := repo.Init(ctx, be, pw, repo.InitOptions{Compression: comp, KDF: a.kdf, Hostname: host, Username: user})
	if err != nil {
		undo()
		return repo.Config{}, fmt.Errorf("init %s: %w", loc, err)
	}
	return cfg, nil
}

// ensureDefaultRepo creates the default repository on first use.
func (a *app) ensureDefaultRepo(cmd *cobra.Command) error {
	loc, isDefault, err := a.location()
	if err != nil || !isDefault {
		return err
	}
	if _, err := os.Stat(loc + "/config"); err == nil {
		return nil
	}
	pw, err := a.password(true)
	if err != nil {
		return err
	}
	cfg, err := a.initRepo(cmd.Context(), loc, pw, pack.CompressionAuto)
	if err != nil {
		return err
	}
	if !a.json {
		fmt.Fprintf(a.stderr, "created the default repository %s at %s\n", cfg.ID.Short(), loc)
	}
	return nil
}
