package cli

import (
	"context"
	"path"
	"strings"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/arcabackup/arca/repo/tree"
	"github.com/spf13/cobra"
)

func (a *app) diffCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diff SNAPSHOT[:PATH] SNAPSHOT[:PATH]",
		Short: "Show what changed between two snapshots (or two directories in them)",
		Long: `Lists the entries that differ: + added, - removed, M content changed,
U only metadata changed, T type changed; then a summary with the bytes of data
blobs only one side references.`,
		Args: cobra.ExactArgs(2),
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			list, err := snapshot.List(ctx, r)
			if err != nil {
				return err
			}
			sa, ta, err := resolveTree(ctx, r, list, args[0])
			if err != nil {
				return err
			}
			sb, tb, err := resolveTree(ctx, r, list, args[1])
			if err != nil {
				return err
			}
			if !a.json {
				a.printf("comparing snapshot %s to %s:\n\n", sa.ID.Short(), sb.ID.Short())
			}
			counter := tree.NewDiffCounter()
			err = tree.Diff(ctx, r, ta, tb, func(c tree.Change) error {
				counter.Add(c)
				p := c.Path
				if n := c.New; n != nil && n.Type == tree.Dir || c.New == nil && c.Old.Type == tree.Dir {
					p += "/"
				}
				if a.json {
					a.printJSON(map[string]any{"message_type": "change", "path": p, "modifier": string(c.Kind)})
				} else {
					a.printf("%c    %s\n", c.Kind, p)
				}
				return nil
			})
			if err != nil {
				return err
			}
			st, err := counter.Stats(r)
			if err != nil {
				return err
			}
			if a.json {
				a.printJSON(map[string]any{"message_type": "statistics", "source_snapshot": sa.ID, "target_snapshot": sb.ID,
					"changed_files": st.ChangedFiles, "added": st.Added, "removed": st.Removed})
				return nil
			}
			a.printf("\nFiles:       %5d new, %5d removed, %5d changed\n", st.Added.Files, st.Removed.Files, st.ChangedFiles)
			a.printf("Dirs:        %5d new, %5d removed\n", st.Added.Dirs, st.Removed.Dirs)
			a.printf("Others:      %5d new, %5d removed\n", st.Added.Others, st.Removed.Others)
			a.printf("Data Blobs:  %5d new, %5d removed\n", st.Added.DataBlobs, st.Removed.DataBlobs)
			a.printf("Added:   %s\nRemoved: %s\n", bytesText(st.Added.Bytes), bytesText(st.Removed.Bytes))
			return nil
		}),
	}
	return cmd
}

// resolveTree resolves SNAPSHOT[:PATH] to the snapshot and the tree of the
// directory at PATH (the snapshot's root without one).
func resolveTree(ctx context.Context, r *repo.Repository, list []*snapshot.Snapshot, ref string) (*snapshot.Snapshot, crypto.ID, error) {
	id, sub, _ := strings.Cut(ref, ":")
	sn, err := snapshot.Find(list, id)
	if err != nil {
		return nil, crypto.ID{}, err
	}
	if sub == "" {
		return sn, sn.Tree, nil
	}
	n, err := tree.Lookup(ctx, r, sn.Tree, path.Clean("/"+sub))
	if err != nil {
		return nil, crypto.ID{}, err
	}
	if n.Type != tree.Dir {
		return nil, crypto.ID{}, &notDirError{ref}
	}
	return sn, n.Subtree, nil
}

type notDirError struct{ ref string }

func (e *notDirError) Error() string { return e.ref + " is not a directory" }
