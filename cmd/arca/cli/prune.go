package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/prune"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// pruneFlags are prune's flags, shared with forget --prune.
type pruneFlags struct {
	maxUnused, maxRepack string
	margin               time.Duration
	now                  bool
}

func (f *pruneFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.maxUnused, "max-unused", "5%", "repack partly used packs while more than this `limit` is unused: a size (e.g. 100M), a percentage of the used size, or 'unlimited'")
	fs.StringVar(&f.maxRepack, "max-repack-size", "", "repack at most this `size` of packs in one run")
	fs.DurationVar(&f.margin, "margin", prune.DefaultMargin, "delete marked packs only this long after their marking")
	fs.BoolVar(&f.now, "now", false, "hold the repository exclusively (refused while another writer runs) and delete what is unused in this run")
}

func (f *pruneFlags) options() (prune.Options, error) {
	var opts prune.Options
	var err error
	if opts.MaxUnused, err = parseLimit(f.maxUnused); err != nil {
		return opts, err
	}
	if f.maxRepack != "" {
		if opts.MaxRepackBytes, err = parseSize(f.maxRepack); err != nil {
			return opts, fmt.Errorf("--max-repack-size: %w", err)
		}
	}
	if f.margin < 0 {
		return opts, fmt.Errorf("--margin must not be negative")
	}
	opts.Margin, opts.Now = f.margin, f.now
	return opts, nil
}

// parseLimit parses --max-unused: "unlimited", "P%" or a size.
func parseLimit(s string) (prune.Limit, error) {
	switch t := strings.TrimSpace(s); {
	case t == "unlimited":
		return prune.Limit{Unlimited: true}, nil
	case strings.HasSuffix(t, "%"):
		p, err := strconv.ParseFloat(strings.TrimSuffix(t, "%"), 64)
		if err != nil || p < 0 || p > 100 {
			return prune.Limit{}, fmt.Errorf("--max-unused: invalid percentage %q", s)
		}
		return prune.Limit{Percent: p}, nil
	default:
		n, err := parseSize(t)
		if err != nil {
			return prune.Limit{}, fmt.Errorf("--max-unused: %w", err)
		}
		return prune.Limit{Bytes: n}, nil
	}
}

func (a *app) pruneCommand() *cobra.Command {
	var (
		flags  pruneFlags
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Free the space of data no snapshot uses (two phases: mark, then delete in a later run)",
		Long: `Frees the space of data that no snapshot references, without stopping backups
(docs/design.md, "Two-phase garbage collection"). A run first deletes what an
earlier run marked, once --margin has passed since the marking and every writer
that was running then has finished (packs that a snapshot saved since then
uses are kept); then it marks the packs no snapshot uses, and repacks partly
used packs (copies their used blobs into new packs and marks them) while more
than --max-unused is unused. So space is freed by the next prune after the
margin: run prune regularly (after forget). --now, for a repository only you
write to, holds it exclusively and deletes in the same run. --dry-run prints
the plan. Only one prune runs at a time; the repository must be format
version 2 ('arca migrate').`,
		Args: cobra.NoArgs,
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			opts, err := flags.options()
			if err != nil {
				return err
			}
			opts.DryRun = dryRun
			return a.prune(ctx, r, opts)
		}),
	}
	flags.register(cmd.Flags())
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "print what would be marked, repacked and deleted; change nothing")
	return cmd
}

// prune announces itself (unless a dry run), checks the clocks and runs.
func (a *app) prune(ctx context.Context, r *repo.Repository, opts prune.Options) error {
	finish := func(err error) error { return err }
	if !opts.DryRun {
		var err error
		ctx, opts.Heartbeat, finish, err = a.announceAs(ctx, r, repo.AnnounceOptions{Operation: "prune", Solo: true, Exclusive: opts.Now})
		if errors.Is(err, repo.ErrBusy) {
			return fmt.Errorf("%w (a prune runs alone, and --now only when no other writer runs)", err)
		} else if err != nil {
			return err
		}
		st, err := opts.Heartbeat.StorageTime(ctx)
		if err != nil {
			return finish(err)
		}
		opts.StorageNow = st
	}
	if !a.json && !a.quiet && a.verbose > 0 {
		opts.Log = func(s string) { a.printf("%s\n", s) }
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// What prune holds throughout is the set of used blobs (under 64
		// bytes each); the rest is garbage of one step at a time, which a
		// soft limit keeps from growing the heap. Measured on a sweeping
		// run at 700k used blobs: live heap at most 81 MB; peak RSS
		// 289-293 MB without a limit, 264-275 MB at 80 bytes a blob + 56
		// MiB but 20-40% slower, 290-297 MB and no slower at this one
		// (most of the rest is badger's mapped files and compactions).
		opts.Used = func(n int) { debug.SetMemoryLimit(int64(n)*96 + 96<<20) }
	}
	res, err := prune.Run(ctx, r, opts)
	if res != nil {
		a.printPrune(res)
	}
	return finish(err)
}

func (a *app) printPrune(res *prune.Result) {
	if a.json {
		a.printJSON(map[string]any{"message_type": "summary", "dry_run": res.DryRun, "snapshots": res.Snapshots,
			"used_blobs": res.UsedBlobs, "total": res.Total, "deleted": res.Deleted, "unmarked": res.Unmarked,
			"recovered": res.Recovered, "waiting": orEmpty(res.Waiting), "swept_lists": len(res.Swept),
			"index_files_written": res.IndexFiles, "index_files_superseded": res.Superseded,
			"marked": res.Unused.Packs+res.Repack.Packs+res.Orphans.Packs > 0, "unused": res.Unused, "repack": res.Repack,
			"repack_blobs": res.RepackBlobs, "repack_bytes": res.RepackBytes, "orphans": res.Orphans, "unused_left": res.UnusedLeft})
		return
	}
	if a.quiet {
		return
	}
	would := ""
	if res.DryRun {
		would = "would be "
	}
	a.printf("%d snapshots use %d blobs; the index lists %d packs (%s)\n", res.Snapshots, res.UsedBlobs, res.Total.Packs, bytesText(res.Total.Bytes))
	if len(res.Swept) > 0 || res.Deleted.Packs > 0 {
		a.printf("deleted %s%d marked packs (%s)", would, res.Deleted.Packs, bytesText(res.Deleted.Bytes))
		if res.Unmarked.Packs > 0 {
			a.printf("; kept %d marked packs that new snapshots use", res.Unmarked.Packs)
		}
		a.printf("\n")
	}
	if res.Recovered.Packs > 0 {
		a.printf("indexed again %d packs in no index file that snapshots use\n", res.Recovered.Packs)
	}
	for _, w := range res.Waiting {
		a.printf("candidate list %s (marked %s) waits: %s\n", w.List.Short(), w.Marked.Local().Format(time.DateTime), w.Reason)
	}
	marked := res.Unused.Packs + res.Repack.Packs + res.Orphans.Packs
	if marked == 0 {
		a.printf("nothing to mark\n")
	} else {
		a.printf("marked %s%d packs: %d unused (%s), %d repacked (%s, %d blobs copied), %d in no index file (%s)\n", would, marked,
			res.Unused.Packs, bytesText(res.Unused.Bytes), res.Repack.Packs, bytesText(res.Repack.Bytes), res.RepackBlobs,
			res.Orphans.Packs, bytesText(res.Orphans.Bytes))
	}
	a.printf("unused space left in kept packs: %s\n", bytesText(res.UnusedLeft))
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (a *app) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Move the repository to the current format version (3)",
		Long: `Moves a format 1 or 2 repository to format 3. Format 2's writers respect the
candidate lists of two-phase garbage collection, so that prune can run; format
3's store small files in groups, compressed and sealed together. Run it once
every host that writes to the repository runs this arca or later: arca before
format 3 cannot open the repository afterwards. It holds the repository
exclusively (refused while another writer runs) and replaces only the config;
packs already stored stay as they are.`,
		Args: cobra.NoArgs,
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			if r.Config().Version == repo.ConfigVersion {
				a.printf("the repository is at format version %d already\n", repo.ConfigVersion)
				return nil
			}
			wctx, _, finish, err := a.announceAs(ctx, r, repo.AnnounceOptions{Operation: "migrate", Exclusive: true})
			if err != nil {
				return err
			}
			from, err := r.Migrate(wctx)
			if err := finish(err); err != nil {
				return err
			}
			if a.json {
				a.printJSON(map[string]any{"message_type": "summary", "from_version": from, "to_version": repo.ConfigVersion})
			} else {
				a.printf("migrated the repository from format version %d to %d\n", from, repo.ConfigVersion)
			}
			return nil
		}),
	}
}
