package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/spf13/cobra"
)

// nodeJSON is restic's ls --json node: mode in Go's fs.FileMode bits, with
// the permissions text beside it.
type nodeJSON struct {
	StructType string    `json:"struct_type"`
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Path       string    `json:"path"`
	UID        uint32    `json:"uid"`
	GID        uint32    `json:"gid"`
	User       string    `json:"user,omitempty"`
	Group      string    `json:"group,omitempty"`
	Size       uint64    `json:"size"`
	Mode       uint32    `json:"mode"`
	Permission string    `json:"permissions"`
	ModTime    time.Time `json:"mtime"`
	AccessTime time.Time `json:"atime"`
	ChangeTime time.Time `json:"ctime"`
	LinkTarget string    `json:"link_target,omitempty"`
}

func (a *app) lsCommand() *cobra.Command {
	var (
		long, recursive bool
		pick            pickFlags
	)
	cmd := &cobra.Command{
		Use:   "ls [SNAPSHOT[:PATH]] [PATH]",
		Short: "List the entries of a snapshot",
		Long: `Lists the entries of a snapshot: all of them without PATH; with PATH, the
entry at PATH and, for a directory, its contents (all the way down with
--recursive). SNAPSHOT may be chosen with --at instead.`,
		Args: cobra.RangeArgs(0, 2),
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			sn, start, given, err := a.pickPath(ctx, r, &pick, args)
			if err != nil {
				return err
			}
			deep := recursive || !given
			node, err := tree.Lookup(ctx, r, sn.Tree, start)
			if err != nil {
				return fmt.Errorf("%s in snapshot %s: %w", start, sn.ID.Short(), err)
			}
			if a.json {
				a.printJSON(map[string]any{"struct_type": "snapshot", "id": sn.ID, "short_id": sn.ID.Short(), "time": sn.Time,
					"hostname": sn.Hostname, "username": sn.Username, "paths": sn.Paths, "tags": sn.Tags, "tree": sn.Tree})
			}
			print := func(p string, n *tree.Node) error {
				switch {
				case a.json:
					a.printJSON(toNodeJSON(p, n))
				case long:
					fmt.Fprintln(a.stdout, longLine(p, n))
				default:
					fmt.Fprintln(a.stdout, p)
				}
				if n.Type == tree.Dir && !deep {
					return tree.SkipDir
				}
				return nil
			}
			if start != "/" {
				if err := print(start, node); err != nil && err != tree.SkipDir {
					return err
				}
			}
			if node.Type != tree.Dir {
				return nil
			}
			return tree.Walk(ctx, r, node.Subtree, start, print)
		}),
	}
	pick.register(cmd.Flags())
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show mode, owner, size and time")
	cmd.Flags().BoolVar(&recursive, "recursive", false, "list directories given as PATH all the way down")
	return cmd
}

func orID(name string, id uint32) string {
	if name != "" {
		return name
	}
	return fmt.Sprint(id)
}
