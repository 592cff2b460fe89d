package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// policyFlags are forget's --keep-* flags.
type policyFlags struct {
	p      snapshot.Policy
	within [6]string // --keep-within and --keep-within-hourly..yearly
	tags   tagLists
}

func (f *policyFlags) register(fs *pflag.FlagSet) {
	fs.IntVarP(&f.p.Last, "keep-last", "l", 0, "keep the last `n` snapshots")
	fs.IntVarP(&f.p.Hourly, "keep-hourly", "H", 0, "keep the last `n` hourly snapshots")
	fs.IntVarP(&f.p.Daily, "keep-daily", "d", 0, "keep the last `n` daily snapshots")
	fs.IntVarP(&f.p.Weekly, "keep-weekly", "w", 0, "keep the last `n` weekly snapshots")
	fs.IntVarP(&f.p.Monthly, "keep-monthly", "m", 0, "keep the last `n` monthly snapshots")
	fs.IntVarP(&f.p.Yearly, "keep-yearly", "y", 0, "keep the last `n` yearly snapshots")
	for i, kind := range []string{"", "-hourly", "-daily", "-weekly", "-monthly", "-yearly"} {
		what := "snapshots"
		if kind != "" {
			what = kind[1:] + " snapshots"
		}
		fs.StringVar(&f.within[i], "keep-within"+kind, "", "keep "+what+" newer than `duration` (e.g. 1y5m7d2h) before the newest snapshot")
	}
	fs.Var(&f.tags, "keep-tag", "keep snapshots with these `tags` (a,b: both; repeatable: any of the lists)")
}

// policy returns the policy the flags give.
func (f *policyFlags) policy() (snapshot.Policy, error) {
	p := f.p
	p.Tags = f.tags
	dst := []*snapshot.Duration{&p.Within, &p.WithinHourly, &p.WithinDaily, &p.WithinWeekly, &p.WithinMonthly, &p.WithinYearly}
	for i, s := range f.within {
		if s == "" {
			continue
		}
		d, err := snapshot.ParseDuration(s)
		if err != nil {
			return p, err
		}
		*dst[i] = d
	}
	return p, p.Validate()
}

// forgetGroupJSON is restic's forget --json group.
type forgetGroupJSON struct {
	Tags    []string         `json:"tags"`
	Host    string           `json:"host"`
	Paths   []string         `json:"paths"`
	Keep    []snapshotJSON   `json:"keep"`
	Remove  []snapshotJSON   `json:"remove"`
	Reasons []keepReasonJSON `json:"reasons"`
}

type keepReasonJSON struct {
	Snapshot snapshotJSON      `json:"snapshot"`
	Matches  []string          `json:"matches"`
	Counters snapshot.Counters `json:"counters"`
}

func (a *app) forgetCommand() *cobra.Command {
	var (
		filter  snapFilterFlags
		policy  policyFlags
		groupBy string
		dryRun  bool
		doPrune bool
		pflags  pruneFlags
	)
	cmd := &cobra.Command{
		Use:   "forget [SNAPSHOT...]",
		Short: "Remove snapshots: the ones named, or those a retention policy does not keep",
		Long: `Removes the snapshots named, or, with --keep-* rules, every snapshot (of those
passing --host, --tag, --path) that no rule keeps, for each group of snapshots
(--group-by, host and paths by default). The rules are restic's: --keep-last N
keeps the N newest; --keep-hourly/daily/weekly/monthly/yearly N the newest
snapshot of each of the N most recent hours, days, ISO weeks, months, years
that have one; --keep-within D keeps what is newer than D before the newest
snapshot (D like 1y5m7d2h), --keep-within-daily D one snapshot a day within D
(and so on); --keep-tag keeps snapshots with those tags. Each kept snapshot is
shown with the rules that keep it. Removing snapshots frees no space by itself:
--prune runs prune afterwards (with prune's flags).`,
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			p, err := policy.policy()
			if err != nil {
				return err
			}
			g, err := snapshot.ParseGroupBy(groupBy)
			if err != nil {
				return err
			}
			if len(args) > 0 && !p.Empty() {
				return fmt.Errorf("give snapshots to remove or --keep-* rules, not both")
			}
			finish := func(err error) error { return err }
			fctx := ctx
			if !dryRun {
				if fctx, finish, err = a.announce(ctx, r, "forget"); err != nil {
					return err
				}
			}
			popts, err := pflags.options()
			if err != nil {
				return finish(err)
			}
			if err := finish(a.forget(fctx, r, &filter, args, p, g, dryRun)); err != nil || !doPrune {
				return err
			}
			popts.DryRun = dryRun
			return a.prune(ctx, r, popts)
		}),
	}
	filter.register(cmd.Flags())
	policy.register(cmd.Flags())
	cmd.Flags().StringVarP(&groupBy, "group-by", "g", "host,paths", "apply the policy to each group of snapshots with the same host, paths and/or tags ('' for one group)")
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "print what would be removed; remove nothing")
	cmd.Flags().BoolVar(&doPrune, "prune", false, "run prune after removing snapshots")
	pflags.register(cmd.Flags())
	return cmd
}

func (a *app) forget(ctx context.Context, r *repo.Repository, filter *snapFilterFlags, args []string, p snapshot.Policy, g snapshot.GroupBy, dryRun bool) error {
	list, err := filter.selectSnapshots(ctx, r, args)
	if err != nil {
		return err
	}
	var remove []*snapshot.Snapshot
	if len(args) > 0 {
		remove = list
	} else if p.Empty() {
		if !a.json {
			a.printf("no policy was specified, no snapshots will be removed\n")
		} else {
			a.printJSON([]forgetGroupJSON{})
		}
		return nil
	} else {
		if !a.json {
			a.printf("Applying Policy: %s\n", p)
		}
		var out []forgetGroupJSON
		for _, grp := range snapshot.GroupSnapshots(list, g) {
			keep, rm, reasons := snapshot.ApplyPolicy(grp.Snapshots, p, time.Now())
			remove = append(remove, rm...)
			if a.json {
				j := forgetGroupJSON{Tags: grp.Key.Tags, Host: grp.Key.Hostname, Paths: grp.Key.Paths, Keep: toJSON(keep), Remove: toJSON(rm)}
				for _, kr := range reasons {
					j.Reasons = append(j.Reasons, keepReasonJSON{toJSON([]*snapshot.Snapshot{kr.Snapshot})[0], kr.Matches, kr.Counters})
				}
				out = append(out, j)
				continue
			}
			a.printForgetGroup(grp.Key, keep, rm, reasons)
		}
		if a.json {
			if out == nil {
				out = []forgetGroupJSON{}
			}
			a.printJSON(out)
		}
	}
	if dryRun {
		if !a.json {
			a.printf("would remove %d snapshots (dry run)\n", len(remove))
		}
		return nil
	}
	for _, sn := range remove {
		if err := snapshot.Remove(ctx, r, sn); err != nil {
			return err
		}
	}
	if !a.json {
		a.printf("removed %d snapshots\n", len(remove))
	}
	return nil
}

// printForgetGroup prints one group's decisions as restic does.
func (a *app) printForgetGroup(key snapshot.GroupKey, keep, remove []*snapshot.Snapshot, reasons []snapshot.KeepReason) {
	if a.quiet {
		return
	}
	if s := key.String(); s != "" {
		a.printf("snapshots for (%s):\n", s)
	}
	table := func(title string, list []*snapshot.Snapshot, why func(int) string) {
		if len(list) == 0 {
			return
		}
		a.printf("%s %d snapshots:\n", title, len(list))
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTime\tHost\tTags\tReasons\tPaths")
		// Oldest first, as restic prints them.
		for i := len(list) - 1; i >= 0; i-- {
			sn := list[i]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sn.ID.Short(), sn.Time.Local().Format(time.DateTime), sn.Hostname,
				strings.Join(sn.Tags, ","), why(i), strings.Join(sn.Paths, ","))
		}
		tw.Flush()
		a.printf("\n")
	}
	table("keep", keep, func(i int) string { return strings.Join(reasons[i].Matches, ", ") })
	table("remove", remove, func(int) string { return "" })
}
