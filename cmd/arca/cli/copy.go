package cli

import (
	"context"
	"errors"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/transfer"
	"github.com/spf13/cobra"
)

func (a *app) copyCommand() *cobra.Command {
	var (
		filter                   snapFilterFlags
		fromRepo, fromPW, fromPC string
	)
	cmd := &cobra.Command{
		Use:   "copy --from-repo SRC [SNAPSHOT...]",
		Short: "Copy snapshots from another repository",
		Long: `copy copies snapshots (all that pass the filters, or those named) from the
repository --from-repo into this one, which may have other keys and live on other
storage. Only the blobs this repository lacks are stored; snapshots copied
before are skipped, so a nightly copy costs little. The source's password comes
from --from-password-file, --from-password-command, ARCA_FROM_PASSWORD_FILE,
ARCA_FROM_PASSWORD_COMMAND, ARCA_FROM_PASSWORD or the terminal.`,
		PreRun: func(*cobra.Command, []string) { a.be.perKind = true },
		RunE: a.withRepo(a.asWriter("copy", func(ctx context.Context, dst *repo.Repository, cmd *cobra.Command, args []string) error {
			if fromRepo == "" {
				fromRepo = a.getenv("ARCA_FROM_REPOSITORY")
			}
			if fromRepo == "" {
				return errors.New("copy needs --from-repo (or ARCA_FROM_REPOSITORY)")
			}
			src, err := a.openRepoAt(ctx, fromRepo, func() ([]byte, error) {
				return a.readPassword(fromPW, fromPC, "ARCA_FROM_", "Enter password for the source repository: ", false)
			})
			if err != nil {
				return err
			}
			defer src.Close()
			if src.Config().ID == dst.Config().ID {
				return errors.New("copy: the source and the destination are the same repository")
			}
			snaps, err := filter.selectSnapshots(ctx, src, args)
			if err != nil {
				return err
			}
			res, err := transfer.Run(ctx, src, dst, snaps, transfer.Options{Log: func(msg string) {
				if !a.json {
					a.printf("%s\n", msg)
				}
			}})
			if err != nil {
				return damaged(src, err)
			}
			if a.json {
				a.printJSON(map[string]any{"message_type": "summary", "copied": res.Copied, "skipped": res.Skipped,
					"trees_copied": res.TreesCopied, "blobs_read": res.BlobsRead, "blobs_stored": res.BlobsStored, "bytes_stored": res.BytesStored})
				return damaged(src, nil)
			}
			a.printf("copied %d snapshots, skipped %d copied before; %d data blobs read, %d stored (%s)\n",
				len(res.Copied), res.Skipped, res.BlobsRead, res.BlobsStored, bytesText(res.BytesStored))
			return damaged(src, nil)
		})),
	}
	f := cmd.Flags()
	f.StringVar(&fromRepo, "from-repo", "", "the repository to copy from (env ARCA_FROM_REPOSITORY)")
	f.StringVar(&fromPW, "from-password-file", "", "read the source's password from a file (env ARCA_FROM_PASSWORD_FILE)")
	f.StringVar(&fromPC, "from-password-command", "", "read the source's password from a command's output (env ARCA_FROM_PASSWORD_COMMAND)")
	filter.register(f)
	return cmd
}
