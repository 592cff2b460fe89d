package cli

import (
	"context"
	"fmt"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/dump"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/spf13/cobra"
)

func (a *app) dumpCommand() *cobra.Command {
	var (
		pick    pickFlags
		archive string
	)
	cmd := &cobra.Command{
		Use:   "dump [SNAPSHOT] PATH",
		Short: "Write a file of a snapshot to standard output, or a directory as a tar or zip archive",
		Long: `Writes the file at PATH in SNAPSHOT to standard output; a directory (or / for
the whole snapshot) is written as an archive (--archive tar or zip). SNAPSHOT
may also be given as SNAPSHOT:PATH, or chosen with --at. A snapshot of a stream
(backup --stdin) holds one file, e.g. /shop.sql:

  arca dump latest /shop.sql | psql -d shop`,
		Args: cobra.RangeArgs(1, 2),
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			sn, p, given, err := a.pickPath(ctx, r, &pick, args)
			if err != nil {
				return err
			}
			if !given {
				return fmt.Errorf("give SNAPSHOT and PATH, SNAPSHOT:PATH, or --at and PATH")
			}
			n, err := tree.Lookup(ctx, r, sn.Tree, p)
			if err != nil {
				return fmt.Errorf("%s in snapshot %s: %w", p, sn.ID.Short(), err)
			}
			if n.Type == tree.File && !cmd.Flags().Changed("archive") {
				return dump.File(ctx, r, n, a.stdout)
			}
			if a.isTerminal() {
				return fmt.Errorf("not writing a %s archive to a terminal: redirect standard output", archive)
			}
			return dump.Archive(ctx, r, n, p, archive, a.stdout)
		}),
	}
	pick.register(cmd.Flags())
	cmd.Flags().StringVarP(&archive, "archive", "a", dump.Tar, "archive format for directories: tar or zip")
	return cmd
}
