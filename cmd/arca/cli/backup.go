package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/arcabackup/arca/pack"
	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/backup"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/spf13/cobra"
)

func (a *app) backupCommand() *cobra.Command {
	var (
		tags        []string
		host        string
		parent      string
		force       bool
		compression string
		readers     int
	)
	cmd := &cobra.Command{
		Use:   "backup PATH...",
		Short: "Back up files and directories into a new snapshot",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if compression != "" {
				if _, err := pack.ParseCompression(compression); err != nil {
					return err
				}
			}
			if err := a.ensureDefaultRepo(cmd); err != nil {
				return err
			}
			r, err := a.openRepo(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			hostname, username := identity()
			if host != "" {
				hostname = host
			}
			opts := backup.Options{
				Paths: args, Tags: tags, Hostname: hostname, Username: username,
				Kind: snapshot.KindIncremental, Readers: readers, Compression: pack.Compression(compression),
				Program: "arca " + Version, Progress: &backup.Progress{},
				Warn: func(path string, err error) { a.warnf(fmt.Sprintf("%s: %v", path, err)) },
			}
			if force {
				opts.Kind = snapshot.KindFull
			} else if opts.Parent, err = a.findParent(cmd, r, parent, hostname, args); err != nil {
				return err
			}
			stop := a.startProgress(func() string { return backupProgressLine(opts.Progress) })
			sn, err := backup.Run(ctx, r, opts)
			stop()
			if sn == nil {
				return err
			}
			a.printBackupSummary(sn)
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&tags, "tag", nil, "add a tag to the snapshot (repeatable)")
	f.StringVar(&host, "host", "", "record this hostname instead of the machine's")
	f.StringVar(&parent, "parent", "", "compare with this snapshot instead of the latest of the same host and paths")
	f.BoolVar(&force, "force", false, "read every file again (no parent)")
	f.StringVar(&compression, "compression", "", "override the repository's compression: off, auto or max")
	f.IntVar(&readers, "read-concurrency", 0, "files read at once (default: cores + 2)")
	return cmd
}

// ensureDefaultRepo creates the default repository on first use.
func (a *app) ensureDefaultRepo(cmd *cobra.Command) error {
	loc, isDefault, err := a.location()
	if err != nil || !isDefault {
		return err
	}
	if _, err := os.Stat(loc + "/config"); err == nil {
		return nil
	}
	pw, err := a.password(true)
	if err != nil {
		return err
	}
	cfg, err := a.initRepo(cmd.Context(), loc, pw, pack.CompressionAuto)
	if err != nil {
		return err
	}
	if !a.json {
		fmt.Fprintf(a.stderr, "created the default repository %s at %s\n", cfg.ID.Short(), loc)
	}
	return nil
}

// findParent picks the parent snapshot: the one named, or the latest of the
// same host and paths.
func (a *app) findParent(cmd *cobra.Command, r *repo.Repository, ref, host string, paths []string) (*snapshot.Snapshot, error) {
	list, err := snapshot.List(cmd.Context(), r)
	if err != nil {
		return nil, err
	}
	if ref != "" {
		return snapshot.Find(list, ref)
	}
	abs, err := backup.CleanPaths(paths)
	if err != nil {
		return nil, err
	}
	matches := snapshot.Filter{Hosts: []string{host}, Paths: abs}.Select(list)
	if len(matches) == 0 {
		return nil, nil
	}
	return matches[len(matches)-1], nil
}

func backupProgressLine(p *backup.Progress) string {
	cur := p.Current()
	s := fmt.Sprintf("%d files, %s processed, %s added, %d errors", p.Files.Load(), bytesText(p.Bytes.Load()), bytesText(p.Added.Load()), p.Errors.Load())
	if len(cur) > 0 {
		s += "  " + cur[0]
	}
	return s
}

func (a *app) printBackupSummary(sn *snapshot.Snapshot) {
	s := sn.Summary
	if a.json {
		a.printJSON(map[string]any{
			"message_type": "summary", "snapshot_id": sn.ID, "parent": sn.Parent, "kind": sn.Kind,
			"files_new": s.FilesNew, "files_changed": s.FilesChanged, "files_unmodified": s.FilesUnmodified,
			"dirs_new": s.DirsNew, "dirs_changed": s.DirsChanged, "dirs_unmodified": s.DirsUnmodified,
			"data_blobs": s.DataBlobs, "tree_blobs": s.TreeBlobs,
			"data_added": s.DataAdded, "data_added_packed": s.DataAddedPacked,
			"total_files_processed": s.TotalFilesProcessed, "total_bytes_processed": s.TotalBytesProcessed,
			"bytes_read": s.BytesRead, "total_duration": s.Duration().Seconds(), "errors": s.Errors,
		})
		return
	}
	if a.quiet {
		return
	}
	a.printf("Files: %d new, %d changed, %d unmodified\n", s.FilesNew, s.FilesChanged, s.FilesUnmodified)
	a.printf("Dirs:  %d new, %d changed, %d unmodified\n", s.DirsNew, s.DirsChanged, s.DirsUnmodified)
	a.printf("Added to the repository: %s (%s stored)\n", bytesText(s.DataAdded), bytesText(s.DataAddedPacked))
	a.printf("processed %d files, %s in %s\n", s.TotalFilesProcessed, bytesText(s.TotalBytesProcessed), s.Duration().Round(time.Millisecond))
	if len(s.Errors) > 0 {
		a.printf("%d entries could not be read:\n", len(s.Errors))
		for _, e := range s.Errors {
			a.printf("  %s\n", e)
		}
	}
	a.printf("snapshot %s saved\n", sn.ID.Short())
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.3f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// findSnapshot resolves a snapshot reference.
func findSnapshot(cmd *cobra.Command, r *repo.Repository, ref string) (*snapshot.Snapshot, error) {
	list, err := snapshot.List(cmd.Context(), r)
	if err != nil {
		return nil, err
	}
	return snapshot.Find(list, ref)
}
