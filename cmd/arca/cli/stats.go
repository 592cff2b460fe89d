package cli

import (
	"context"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/stats"
	"github.com/spf13/cobra"
)

func (a *app) statsCommand() *cobra.Command {
	var (
		filter snapFilterFlags
		mode   string
	)
	cmd := &cobra.Command{
		Use:   "stats [SNAPSHOT...]",
		Short: "Show sizes: what a restore writes, distinct contents, or what the repository stores",
		Long: `Modes:
  restore-size       bytes and files a restore of the snapshots writes (default)
  files-by-contents  bytes and number of distinct file contents
  raw-data           the blobs the snapshots reference, each once: bytes stored
                     (compressed, encrypted) and uncompressed, the compression
                     ratio, and the deduplication ratio (restore size over
                     distinct data)
Without SNAPSHOT, all snapshots that pass the filters are counted.`,
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			list, err := filter.selectSnapshots(ctx, r, args)
			if err != nil {
				return err
			}
			roots := make([]crypto.ID, 0, len(list))
			for _, sn := range list {
				roots = append(roots, sn.Tree)
			}
			res, err := stats.Compute(ctx, r, roots, mode)
			if err != nil {
				return err
			}
			if a.json {
				a.printJSON(res)
				return nil
			}
			a.printf("Stats in %s mode:\n", mode)
			a.printf("     Snapshots processed:  %d\n", res.Snapshots)
			switch mode {
			case stats.RawData:
				a.printf("        Total Blob Count:  %d\n", res.TotalBlobCount)
				a.printf(" Total Uncompressed Size:  %s\n", bytesText(int64(res.TotalUncompressedSize)))
				a.printf("       Total Stored Size:  %s\n", bytesText(int64(res.TotalSize)))
				a.printf("       Compression Ratio:  %.2fx (%.1f%% space saving)\n", res.CompressionRatio, res.CompressionSpaceSaving)
				a.printf("            Restore Size:  %s\n", bytesText(int64(res.LogicalSize)))
				a.printf("     Deduplication Ratio:  %.2fx\n", res.DedupRatio)
			default:
				a.printf("        Total File Count:  %d\n", res.TotalFileCount)
				if mode == stats.RestoreSize {
					a.printf("         Total Dir Count:  %d\n", res.TotalDirCount)
				}
				a.printf("              Total Size:  %s\n", bytesText(int64(res.TotalSize)))
			}
			return nil
		}),
	}
	filter.register(cmd.Flags())
	cmd.Flags().StringVar(&mode, "mode", stats.RestoreSize, "restore-size, files-by-contents or raw-data")
	return cmd
}
