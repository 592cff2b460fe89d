package cli

import (
	"context"
	"fmt"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/spf13/cobra"
)

func (a *app) tagCommand() *cobra.Command {
	var (
		filter           snapFilterFlags
		add, remove, set []string
	)
	cmd := &cobra.Command{
		Use:   "tag [--add TAG] [--remove TAG] [--set TAG] [SNAPSHOT...]",
		Short: "Change the tags of snapshots (all that pass the filters if none are named)",
		PreRunE: func(cmd *cobra.Command, args []string) error {
			setGiven := cmd.Flags().Changed("set")
			if !setGiven && len(add) == 0 && len(remove) == 0 {
				return fmt.Errorf("nothing to do: give --add, --remove or --set")
			}
			if setGiven && (len(add) > 0 || len(remove) > 0) {
				return fmt.Errorf("--set replaces all tags; it cannot be combined with --add or --remove")
			}
			add, remove = splitTags(add), splitTags(remove)
			if setGiven {
				set = splitTags(set)
				if set == nil {
					set = []string{}
				}
			}
			return nil
		},
		RunE: a.withRepo(a.asWriter("tag", func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			if err := snapshot.Tidy(ctx, r); err != nil {
				return err
			}
			list, err := filter.selectSnapshots(ctx, r, args)
			if err != nil {
				return err
			}
			changed := 0
			for _, sn := range list {
				old := sn.ID
				if !sn.Retag(set, add, remove) {
					continue
				}
				if err := snapshot.Replace(ctx, r, sn); err != nil {
					return err
				}
				changed++
				if a.json {
					a.printJSON(map[string]any{"message_type": "changed_snapshot", "old_snapshot_id": old, "new_snapshot_id": sn.ID})
				} else if a.verbose > 0 {
					a.printf("snapshot %s is now %s\n", old.Short(), sn.ID.Short())
				}
			}
			if a.json {
				a.printJSON(map[string]any{"message_type": "summary", "changed_snapshots": changed})
			} else {
				a.printf("changed the tags of %d of %d snapshots\n", changed, len(list))
			}
			return nil
		})),
	}
	filter.register(cmd.Flags())
	cmd.Flags().StringArrayVar(&add, "add", nil, "add these `tags` (a,b; repeatable)")
	cmd.Flags().StringArrayVar(&remove, "remove", nil, "remove these `tags` (a,b; repeatable)")
	cmd.Flags().StringArrayVar(&set, "set", nil, "replace all tags with these `tags` (a,b; repeatable; --set '' removes all)")
	return cmd
}
