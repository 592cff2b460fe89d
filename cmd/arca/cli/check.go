package cli

import (
	"context"
	"errors"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/check"
	"github.com/spf13/cobra"
)

func (a *app) checkCommand() *cobra.Command {
	var (
		opts   check.Options
		subset string
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the repository: index, packs, snapshots, trees, and with --read-data every byte",
		Long: `Checks that the index files, the packs and the snapshots agree, and that every
snapshot's trees and blobs exist and its trees can be read. --read-data also
reads the packs and checks every byte; --read-data-subset reads a part of them:
N/T (the N-th of T groups, so that a nightly job with N = day of the month and
T = 31 covers everything in a month), P% (a random P percent) or a size (random
packs up to 500M, say). Each problem names the object and the snapshots and
files that lose content. Exit 1 when errors are found.`,
		Args: cobra.NoArgs,
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			if subset != "" {
				var err error
				if opts.Subset, err = check.ParseSubset(subset, parseSize); err != nil {
					return err
				}
				opts.ReadData = true
			}
			if !a.json {
				opts.Stage = func(s string) { a.printf("%s\n", s) }
			}
			res, err := check.Run(ctx, r, opts)
			for _, p := range res.Problems {
				kind := "error"
				if p.Notice {
					kind = "notice"
				}
				if a.json {
					if p.Affected == nil {
						p.Affected = []string{}
					}
					a.printJSON(map[string]any{"message_type": kind, "error": map[string]any{"message": userText(p.Err.Error())},
						"during": "check", "item": p.Object, "affected": p.Affected})
					continue
				}
				a.printf("%s: %s: %s\n", kind, p.Object, userText(p.Err.Error()))
				for _, f := range p.Affected {
					a.printf("  loses %s\n", f)
				}
			}
			if err != nil && !errors.Is(err, check.ErrFound) {
				return err
			}
			if a.json {
				a.printJSON(map[string]any{"message_type": "summary", "num_errors": res.Errors, "num_notices": res.Notices,
					"index_files": res.IndexFiles, "packs": res.Packs, "snapshots": res.Snapshots, "trees": res.Trees,
					"blobs": res.Blobs, "packs_read": res.PacksRead, "bytes_read": res.BytesRead})
			} else {
				a.printf("checked %d snapshots, %d trees, %d blobs in %d packs", res.Snapshots, res.Trees, res.Blobs, res.Packs)
				if opts.ReadData {
					a.printf("; read %d packs (%s)", res.PacksRead, bytesText(res.BytesRead))
				}
				a.printf("\n")
				if res.Errors == 0 {
					a.printf("no errors were found\n")
				}
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&opts.ReadData, "read-data", false, "read all packs and check every byte")
	cmd.Flags().StringVar(&subset, "read-data-subset", "", "read only a `subset` of the packs: N/T, P% or a size (e.g. 500M)")
	return cmd
}
