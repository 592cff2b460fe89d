package cli

import (
	"context"
	"fmt"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/repair"
	"github.com/spf13/cobra"
)

func (a *app) repairCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Mend a damaged repository: index, packs, snapshots",
		Long: `Mends what check found. The usual order: 'check --read-data' (finds damaged
packs and remembers them in this host's cache), 'repair index' if index files
are damaged, 'repair packs' (salvages the intact blobs of damaged packs, drops
the packs), 'repair snapshots' (rewrites snapshots without the files that
lost content). Each takes --dry-run.`,
	}
	var dryRun bool
	cmd.PersistentFlags().BoolVarP(&dryRun, "dry-run", "n", false, "print what would be done; change nothing")
	exclusive := func(op string, fn func(ctx context.Context, r *repo.Repository, args []string) error) func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
		return func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			if dryRun {
				return fn(ctx, r, args)
			}
			wctx, _, finish, err := a.announceAs(ctx, r, repo.AnnounceOptions{Operation: op, Exclusive: true})
			if err != nil {
				return err
			}
			return finish(fn(wctx, r, args))
		}
	}
	index := &cobra.Command{
		Use:   "index",
		Short: "Rebuild the index from the headers of the stored packs",
		Long: `Reads the header of every stored pack and writes index files that list them
all and supersede every existing index file (damaged ones too). A pack whose
header cannot be read keeps the index entries it has (for repair packs). Holds
the repository exclusively.`,
		Args: cobra.NoArgs,
		RunE: a.withRepoMending(exclusive("repair", func(ctx context.Context, r *repo.Repository, args []string) error {
			res, err := repair.Index(ctx, r, dryRun)
			if err != nil {
				return err
			}
			for id, uerr := range res.Unreadable {
				a.warnf(fmt.Sprintf("pack %s: header cannot be read: %s (repair packs salvages it)", id, userText(uerr.Error())))
			}
			if a.json {
				a.printJSON(map[string]any{"message_type": "summary", "dry_run": dryRun, "packs": res.Packs, "blobs": res.Blobs,
					"packs_added": idStrings(res.Added), "packs_dropped": idStrings(res.Dropped), "unreadable_packs": len(res.Unreadable),
					"index_files_written": res.Written, "index_files_superseded": res.Superseded})
				return nil
			}
			would := map[bool]string{true: "would ", false: ""}[dryRun]
			a.printf("%sindex %d packs (%d blobs): %d not indexed before, %d listed but not stored (dropped)\n",
				would, res.Packs, res.Blobs, len(res.Added), len(res.Dropped))
			if !dryRun {
				a.printf("wrote %d index files, replacing %d\n", res.Written, res.Superseded)
			}
			return nil
		})),
	}
	packs := &cobra.Command{
		Use:   "packs [PACK...]",
		Short: "Salvage the intact blobs of damaged packs, then drop the packs",
		Long: `For each pack named (full IDs), or else each pack this host's cache knows to
be missing or damaged (found by check --read-data, a restore or a backup),
stores the blobs that still verify in new packs, then drops the pack from the
index and deletes it. What does not verify is lost unless another copy exists;
'repair snapshots' then drops the files that lost it. Holds the repository
exclusively.`,
		RunE: a.withRepoMending(exclusive("repair", func(ctx context.Context, r *repo.Repository, args []string) error {
			var ids []crypto.ID
			for _, s := range args {
				id, err := crypto.ParseID(s)
				if err != nil {
					return fmt.Errorf("%q is not a pack ID: %w", s, err)
				}
				ids = append(ids, id)
			}
			res, err := repair.Packs(ctx, r, ids, dryRun)
			for _, p := range res {
				if a.json {
					if p.Lost == nil {
						p.Lost = []string{}
					}
					a.printJSON(map[string]any{"message_type": "pack", "dry_run": dryRun, "pack": p.Pack, "reason": p.Reason,
						"salvaged_blobs": p.Salvaged, "lost_blobs": p.Lost})
					continue
				}
				if p.Reason == "intact" {
					a.printf("pack %s is intact; left alone\n", p.Pack.Short())
					continue
				}
				a.printf("pack %s (%s): salvaged %d blobs, lost %d\n", p.Pack.Short(), p.Reason, p.Salvaged, len(p.Lost))
				for _, b := range p.Lost {
					a.printf("  lost %s\n", b)
				}
			}
			if err != nil {
				return err
			}
			if !a.json && len(res) == 0 {
				a.printf("no damaged packs known (run check --read-data first)\n")
			}
			return nil
		})),
	}
	snapshots := &cobra.Command{
		Use:   "snapshots",
		Short: "Rewrite snapshots without the files and directories that lost content",
		Long: `Rewrites every snapshot whose trees reference a blob with no usable copy:
files that lost content and directories whose tree cannot be read are left out
of the new snapshot (tagged 'repaired'), which replaces the old one. Snapshot
files that cannot be read are removed. It goes by the index and what this
host's cache knows to be damaged: run check --read-data and repair packs first.`,
		Args: cobra.NoArgs,
		RunE: a.withRepoMending(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			var w *repo.Writer
			if !dryRun {
				var finish func(error) error
				var err error
				if ctx, finish, err = a.announce(ctx, r, "repair"); err != nil {
					return err
				}
				w = r.NewWriter(ctx, repo.WriterOptions{})
				err = a.repairSnapshots(ctx, r, w, dryRun)
				if cerr := w.Close(); err == nil {
					err = cerr
				}
				return finish(err)
			}
			return a.repairSnapshots(ctx, r, w, dryRun)
		}),
	}
	cmd.AddCommand(index, packs, snapshots)
	return cmd
}

func (a *app) repairSnapshots(ctx context.Context, r *repo.Repository, w *repo.Writer, dryRun bool) error {
	res, err := repair.Snapshots(ctx, r, w, dryRun)
	for _, s := range res {
		if a.json {
			if s.Dropped == nil {
				s.Dropped = []string{}
			}
			a.printJSON(map[string]any{"message_type": "snapshot", "dry_run": dryRun, "snapshot": s.Snapshot, "new_snapshot": s.New,
				"dropped": s.Dropped, "unreadable": s.Unreadable})
			continue
		}
		switch {
		case s.Unreadable != "":
			a.printf("snapshot file %s cannot be read (%s): removed\n", s.Snapshot.Short(), userText(s.Unreadable))
		case s.New.IsNull() && !dryRun:
			a.printf("snapshot %s lost its root directory: removed\n", s.Snapshot.Short())
		default:
			a.printf("snapshot %s: %d paths dropped", s.Snapshot.Short(), len(s.Dropped))
			if !s.New.IsNull() {
				a.printf("; now %s", s.New.Short())
			}
			a.printf("\n")
		}
		for _, p := range s.Dropped {
			a.printf("  dropped %s\n", p)
		}
	}
	if err != nil {
		return err
	}
	if !a.json && len(res) == 0 {
		a.printf("no snapshot needs repair\n")
	}
	return nil
}

func idStrings(ids []crypto.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}
