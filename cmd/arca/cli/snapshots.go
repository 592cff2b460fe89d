package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/spf13/cobra"
)

type snapshotJSON struct {
	*snapshot.Snapshot
	ID      string `json:"id"`
	ShortID string `json:"short_id"`
}

type groupJSON struct {
	Key       snapshot.GroupKey `json:"group_key"`
	Snapshots []snapshotJSON    `json:"snapshots"`
}

func toJSON(list []*snapshot.Snapshot) []snapshotJSON {
	out := make([]snapshotJSON, 0, len(list))
	for _, sn := range list {
		out = append(out, snapshotJSON{sn, sn.ID.String(), sn.ID.Short()})
	}
	return out
}

func (a *app) snapshotsCommand() *cobra.Command {
	var (
		filter  snapFilterFlags
		groupBy string
		latest  int
		g       snapshot.GroupBy
	)
	cmd := &cobra.Command{
		Use:   "snapshots [SNAPSHOT...]",
		Short: "List snapshots",
		PreRunE: func(cmd *cobra.Command, args []string) (err error) {
			if cmd.Flags().Changed("latest") && latest < 1 {
				return fmt.Errorf("--latest %d: give a number of snapshots, at least 1", latest)
			}
			g, err = snapshot.ParseGroupBy(groupBy)
			return err
		},
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			all, err := snapshot.List(ctx, r)
			if err != nil {
				return err
			}
			list, err := filter.selectFrom(all, args)
			if err != nil {
				return err
			}
			if latest > 0 {
				list = snapshot.Latest(list, g, latest)
			}
			groups := snapshot.GroupSnapshots(list, g)
			if a.json {
				if g.IsZero() {
					a.printJSON(toJSON(list))
					return nil
				}
				out := make([]groupJSON, 0, len(groups))
				for _, grp := range groups {
					out = append(out, groupJSON{grp.Key, toJSON(grp.Snapshots)})
				}
				a.printJSON(out)
				return nil
			}
			for i, grp := range groups {
				if !g.IsZero() {
					if i > 0 {
						fmt.Fprintln(a.stdout)
					}
					fmt.Fprintf(a.stdout, "snapshots for %s:\n", grp.Key)
				}
				a.snapshotTable(a.stdout, grp.Snapshots, all)
			}
			if len(groups) == 0 {
				a.snapshotTable(a.stdout, nil, nil)
			}
			return nil
		}),
	}
	filter.register(cmd.Flags())
	cmd.Flags().StringVarP(&groupBy, "group-by", "g", "", "group by host, paths and/or tags (comma-separated)")
	cmd.Flags().IntVar(&latest, "latest", 0, "show only the last N snapshots of each group (of each host and paths without --group-by)")
	return cmd
}

// snapshotTable prints list; parents are shown by their current IDs,
// looked up in all.
func (a *app) snapshotTable(w io.Writer, list, all []*snapshot.Snapshot) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTime\tHost\tKind\tParent\tTags\tPaths")
	for _, sn := range list {
		parent := ""
		if sn.Parent != nil {
			parent = snapshot.Current(all, *sn.Parent).Short()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sn.ID.Short(), sn.Time.Local().Format("2006-01-02 15:04:05"),
			sn.Hostname, sn.Kind, parent, strings.Join(sn.Tags, ","), strings.Join(sn.Paths, " "))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d snapshots\n", len(list))
}
