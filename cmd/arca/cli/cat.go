package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/spf13/cobra"
)

// treeNodeJSON is a tree node as cat prints it: restic's field names, times
// in RFC 3339, mode in Go's fs.FileMode bits beside the permissions text.
type treeNodeJSON struct {
	Name       string      `json:"name"`
	Type       string      `json:"type"`
	Mode       uint32      `json:"mode"`
	Permission string      `json:"permissions"`
	ModTime    time.Time   `json:"mtime"`
	AccessTime time.Time   `json:"atime"`
	ChangeTime time.Time   `json:"ctime"`
	UID        uint32      `json:"uid"`
	GID        uint32      `json:"gid"`
	User       string      `json:"user,omitempty"`
	Group      string      `json:"group,omitempty"`
	Inode      uint64      `json:"inode"`
	DeviceID   uint64      `json:"device_id"`
	Size       uint64      `json:"size"`
	Links      uint64      `json:"links"`
	LinkTarget string      `json:"linktarget,omitempty"`
	Rdev       uint64      `json:"device,omitempty"`
	Xattrs     []xattrJSON `json:"extended_attributes,omitempty"`
	Content    []crypto.ID `json:"content,omitempty"`
	Subtree    *crypto.ID  `json:"subtree,omitempty"`
}

type xattrJSON struct {
	Name  string `json:"name"`
	Value []byte `json:"value"` // base64
}

func toTreeJSON(t *tree.Tree) map[string]any {
	nodes := make([]treeNodeJSON, 0, len(t.Nodes))
	for i := range t.Nodes {
		n := &t.Nodes[i]
		j := treeNodeJSON{Name: n.Name, Type: n.Type.String(), Mode: uint32(n.FileMode()), Permission: n.FileMode().String(),
			ModTime: time.Unix(0, n.ModTime), AccessTime: time.Unix(0, n.AccessTime), ChangeTime: time.Unix(0, n.ChangeTime),
			UID: n.UID, GID: n.GID, User: n.User, Group: n.Group, Inode: n.Inode, DeviceID: n.Device, Size: n.Size,
			Links: n.Links, LinkTarget: n.LinkTarget, Rdev: n.Rdev, Content: n.Content}
		for _, x := range n.Xattrs {
			j.Xattrs = append(j.Xattrs, xattrJSON{x.Name, x.Value})
		}
		if n.Type == tree.Dir {
			j.Subtree = &n.Subtree
		}
		nodes = append(nodes, j)
	}
	return map[string]any{"nodes": nodes}
}

func (a *app) catCommand() *cobra.Command {
	return &cobra.Command{
		Use:       "cat config | snapshot ID | tree ID",
		Short:     "Print a repository object as JSON",
		Long:      "Prints the config, a snapshot or a tree as JSON (docs/cli.md has the shapes). IDs may be unique prefixes.",
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
					v = snapshotJSON{sn, sn.ID.String(), sn.ID.Short()}
					break
				}
				id, err := r.FindBlob(pack.TreeBlob, args[1])
				if err != nil {
					return err
				}
				t, err := tree.Load(ctx, r, id)
				if err != nil {
					return err
				}
				v = toTreeJSON(t)
			default:
				return fmt.Errorf("unknown object type %q (want config, snapshot or tree)", args[0])
			}
			if a.json {
				a.printJSON(v) // one line, as every --json message
				return nil
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
