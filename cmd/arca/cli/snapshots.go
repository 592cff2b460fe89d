package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/spf13/cobra"
)

type snapshotJSON struct {
	*snapshot.Snapshot
	ID      string `json:"id"`
	ShortID string `json:"short_id"`
}

func (a *app) snapshotsCommand() *cobra.Command {
	var f snapshot.Filter
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "List snapshots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.openRepo(cmd.Context())
			if err != nil {
				return err
			}
			defer r.Close()
			list, err := snapshot.List(cmd.Context(), r)
			if err != nil {
				return err
			}
			list = f.Select(list)
			if a.json {
				out := make([]snapshotJSON, 0, len(list))
				for _, sn := range list {
					out = append(out, snapshotJSON{sn, sn.ID.String(), sn.ID.Short()})
				}
				a.printJSON(out)
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTime\tHost\tKind\tParent\tTags\tPaths")
			for _, sn := range list {
				parent := ""
				if sn.Parent != nil {
					parent = sn.Parent.Short()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sn.ID.Short(), sn.Time.Local().Format("2006-01-02 15:04:05"),
					sn.Hostname, sn.Kind, parent, strings.Join(sn.Tags, ","), strings.Join(sn.Paths, " "))
			}
			tw.Flush()
			fmt.Fprintf(a.stdout, "%d snapshots\n", len(list))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&f.Hosts, "host", nil, "only snapshots of this host (repeatable)")
	cmd.Flags().StringArrayVar(&f.Tags, "tag", nil, "only snapshots with this tag (repeatable)")
	cmd.Flags().StringArrayVar(&f.Paths, "path", nil, "only snapshots of exactly these paths (repeatable)")
	return cmd
}
