package cli

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/spf13/cobra"
)

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
	LinkTarget string    `json:"link_target,omitempty"`
}

func (a *app) lsCommand() *cobra.Command {
	var long bool
	cmd := &cobra.Command{
		Use:   "ls SNAPSHOT [PATH]",
		Short: "List the files of a snapshot, recursively, under PATH",
		Args:  cobra.RangeArgs(1, 2),
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			sn, err := findSnapshot(cmd, r, args[0])
			if err != nil {
				return err
			}
			start := "/"
			if len(args) == 2 {
				start = path.Clean("/" + args[1])
			}
			node, err := tree.Lookup(ctx, r, sn.Tree, start)
			if err != nil {
				return err
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
				return nil
			}
			if node.Type != tree.Dir {
				return print(start, node)
			}
			return tree.Walk(ctx, r, node.Subtree, start, print)
		}),
	}
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show mode, owner, size and time")
	return cmd
}

func orID(name string, id uint32) string {
	if name != "" {
		return name
	}
	return fmt.Sprint(id)
}

func modeString(n *tree.Node) string {
	m := fs.FileMode(n.Mode & 0o777)
	if n.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch n.Type {
	case tree.Dir:
		m |= fs.ModeDir
	case tree.Symlink:
		m |= fs.ModeSymlink
	case tree.Device:
		m |= fs.ModeDevice
	case tree.CharDev:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case tree.FIFO:
		m |= fs.ModeNamedPipe
	case tree.Socket:
		m |= fs.ModeSocket
	}
	return m.String()
}
