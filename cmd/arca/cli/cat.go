package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/spf13/cobra"
)

func (a *app) catCommand() *cobra.Command {
	return &cobra.Command{
		Use:       "cat config | snapshot ID | tree ID",
		Short:     "Print a repository object as JSON",
		Args:      cobra.RangeArgs(1, 2),
		ValidArgs: []string{"config", "snapshot", "tree"},
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			var v any
			switch args[0] {
			case "config":
				v = r.Config()
			case "snapshot", "tree":
				if len(args) != 2 {
					return fmt.Errorf("cat %s needs an ID", args[0])
				}
				if args[0] == "snapshot" {
					sn, err := findSnapshot(cmd, r, args[1])
					if err != nil {
						return err
					}
					v = sn
					break
				}
				id, err := crypto.ParseID(args[1])
				if err != nil {
					return err
				}
				t, err := tree.Load(ctx, r, id)
				if err != nil {
					return err
				}
				v = t
			default:
				return fmt.Errorf("cat: unknown object type %q (want config, snapshot or tree)", args[0])
			}
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, string(b))
			return nil
		}),
	}
}
