package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/find"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/spf13/cobra"
)

type findJSON struct {
	Snapshot string     `json:"snapshot"`
	Hits     int        `json:"hits"`
	Matches  []nodeJSON `json:"matches"`
}

func (a *app) findCommand() *cobra.Command {
	var (
		filter    snapFilterFlags
		snapshots []string
		fold      bool
		long      bool
	)
	cmd := &cobra.Command{
		Use:   "find PATTERN...",
		Short: "Find which snapshots hold paths matching a pattern",
		Long: `Searches snapshots for entries matching any PATTERN (docs/filters.md): a
pattern without "/" matches an entry's name at any depth ("*.sql"), one with
"/" matches the end of its path ("etc/*.conf"), and one starting with "/" the
whole path. Every snapshot that passes the filters is searched, or those named
with --snapshot.`,
		Args: cobra.MinimumNArgs(1),
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			list, err := filter.selectSnapshots(ctx, r, snapshots)
			if err != nil {
				return err
			}
			f, err := find.New(r, args, fold)
			if err != nil {
				return err
			}
			var out []findJSON
			total := 0
			for _, sn := range list {
				ms, err := f.Find(ctx, sn.Tree)
				if err != nil {
					return fmt.Errorf("snapshot %s: %w", sn.ID.Short(), err)
				}
				if len(ms) == 0 {
					continue
				}
				total += len(ms)
				if a.json {
					fj := findJSON{Snapshot: sn.ID.String(), Hits: len(ms), Matches: make([]nodeJSON, 0, len(ms))}
					for _, m := range ms {
						fj.Matches = append(fj.Matches, toNodeJSON(m.Path, &m.Node))
					}
					out = append(out, fj)
					continue
				}
				a.printf("Found matching entries in snapshot %s from %s\n", sn.ID.Short(), sn.Time.Local().Format("2006-01-02 15:04:05"))
				for _, m := range ms {
					if long {
						a.printf("%s\n", longLine(m.Path, &m.Node))
					} else {
						a.printf("%s\n", m.Path)
					}
				}
				a.printf("\n")
			}
			if a.json {
				if out == nil {
					out = []findJSON{}
				}
				a.printJSON(out)
			} else if total == 0 {
				a.printf("no matches in %d snapshots\n", len(list))
			}
			return nil
		}),
	}
	filter.register(cmd.Flags())
	cmd.Flags().StringArrayVarP(&snapshots, "snapshot", "s", nil, "search only this snapshot (repeatable)")
	cmd.Flags().BoolVarP(&fold, "ignore-case", "i", false, "match case-insensitively")
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show mode, owner, size and time")
	return cmd
}

func toNodeJSON(p string, n *tree.Node) nodeJSON {
	atime := n.AccessTime
	if atime == 0 {
		atime = n.ModTime // not stored; a restore sets it so
	}
	return nodeJSON{StructType: "node", Name: n.Name, Type: n.Type.String(), Path: p, UID: n.UID, GID: n.GID,
		User: n.User, Group: n.Group, Size: n.Size, Mode: uint32(n.FileMode()), Permission: n.FileMode().String(),
		ModTime: time.Unix(0, n.ModTime), AccessTime: time.Unix(0, atime), ChangeTime: time.Unix(0, n.ChangeTime),
		LinkTarget: n.LinkTarget}
}

func longLine(p string, n *tree.Node) string {
	line := fmt.Sprintf("%s %-8s %-8s %12d %s %s", n.FileMode().String(), orID(n.User, n.UID), orID(n.Group, n.GID), n.Size,
		time.Unix(0, n.ModTime).Local().Format("2006-01-02 15:04:05"), p)
	if n.Type == tree.Symlink {
		line += " -> " + n.LinkTarget
	}
	return line
}
