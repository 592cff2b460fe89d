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
		kind        string
		force       bool
		compression string
		readers     int
		timeText    string
		dryRun      bool
		withAtime   bool
		sel         selectFlags
		stdin       stdinFlags
	)
	cmd := &cobra.Command{
		Use:   "backup PATH...",
		Short: "Back up files and directories into a new snapshot",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if stdin.fromCmd {
				stdin.commandv = args
				args = nil
			}
			var paths []string
			var err error
			if stdin.stdin || stdin.fromCmd {
				if len(args) > 0 {
					return fmt.Errorf("--stdin takes no paths")
				}
			} else if paths, err = sel.paths(args); err != nil {
				return err
			}
			excludes, err := sel.excludes()
			if err != nil {
				return err
			}
			if compression != "" {
				if _, err := pack.ParseCompression(compression); err != nil {
					return err
				}
			}
			var snTime time.Time
			if timeText != "" {
				if snTime, err = parseTime(timeText, time.Now()); err != nil {
					return fmt.Errorf("--time: %w", err)
				}
			}
			if !dryRun {
				if err := a.ensureDefaultRepo(cmd); err != nil {
					return err
				}
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
				Paths: paths, Excludes: excludes, Tags: tags, Hostname: hostname, Username: username,
				Kind: kind, Readers: readers, Compression: pack.Compression(compression), Time: snTime, DryRun: dryRun, WithAtime: withAtime,
				Program: "arca " + Version, Progress: &backup.Progress{},
				Warn: func(path string, err error) { a.warnf(fmt.Sprintf("%s: %v", path, err)) },
			}
			if force {
				if cmd.Flags().Changed("kind") && kind != snapshot.KindFull {
					return fmt.Errorf("--force means --kind full, not %s", kind)
				}
				opts.Kind = snapshot.KindFull
			}
			var sn *snapshot.Snapshot
			opts.Scan = !a.quiet && (a.json || a.isTerminal() || a.verbose > 0)
			stop := a.startProgress(backupView{opts.Progress})
			if stdin.stdin || stdin.fromCmd {
				sn, err = a.backupStream(ctx, r, stdin, opts, parent)
			} else if opts.Parent, err = a.findParent(cmd, r, parent, opts.Kind, hostname, paths); err == nil {
				sn, err = backup.Run(ctx, r, opts)
			}
			stop()
			if sn == nil {
				return err
			}
			a.printBackupSummary(sn, dryRun)
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&tags, "tag", nil, "add a tag to the snapshot (repeatable)")
	f.StringVar(&host, "host", "", "record this hostname instead of the machine's")
	f.StringVar(&parent, "parent", "", "compare with this snapshot instead of the latest of the same host and paths")
	f.StringVar(&kind, "kind", snapshot.KindIncremental, "incremental (parent: latest of this host and paths), differential (parent: latest full) or full (no parent)")
	f.BoolVar(&force, "force", false, "same as --kind full: read every file again")
	f.StringVar(&compression, "compression", "", "override the repository's compression: off, auto or max")
	f.IntVar(&readers, "read-concurrency", 0, "files read at once (default: cores + 2)")
	f.StringVar(&timeText, "time", "", "record this time for the snapshot instead of now (\"YYYY-MM-DD HH:MM[:SS]\" local, or RFC 3339)")
	f.BoolVar(&withAtime, "with-atime", false, "store files' access times (by default a restore sets them to the mtime)")
	f.BoolVarP(&dryRun, "dry-run", "n", false, "read and deduplicate everything, report what would be added, write nothing")
	sel.register(f)
	f.BoolVar(&stdin.stdin, "stdin", false, "back up standard input as one file")
	f.StringVar(&stdin.name, "stdin-filename", "stdin", "file name for --stdin and --stdin-from-command")
	f.BoolVar(&stdin.fromCmd, "stdin-from-command", false, "back up the output of the command given after --; no snapshot if it fails")
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

// findParent picks the parent snapshot: the one named, or the one the
// kind calls for.
func (a *app) findParent(cmd *cobra.Command, r *repo.Repository, ref, kind, host string, paths []string) (*snapshot.Snapshot, error) {
	list, err := snapshot.List(cmd.Context(), r)
	if err != nil {
		return nil, err
	}
	if ref != "" {
		if kind == snapshot.KindFull {
			return nil, fmt.Errorf("--parent cannot be combined with a full backup")
		}
		return snapshot.Find(list, ref)
	}
	abs, err := backup.CleanPaths(paths)
	if err != nil {
		return nil, err
	}
	return backup.ChooseParent(list, kind, host, abs)
}

func (a *app) printBackupSummary(sn *snapshot.Snapshot, dryRun bool) {
	s := sn.Summary
	if a.json {
		var id any = sn.ID
		if dryRun {
			id = nil
		}
		a.printJSON(map[string]any{
			"message_type": "summary", "snapshot_id": id, "dry_run": dryRun, "parent": sn.Parent, "kind": sn.Kind,
			"files_new": s.FilesNew, "files_changed": s.FilesChanged, "files_unmodified": s.FilesUnmodified,
			"dirs_new": s.DirsNew, "dirs_changed": s.DirsChanged, "dirs_unmodified": s.DirsUnmodified,
			"data_blobs": s.DataBlobs, "tree_blobs": s.TreeBlobs,
			"data_added": s.DataAdded, "data_added_packed": s.DataAddedPacked,
			"total_files_processed": s.TotalFilesProcessed, "total_bytes_processed": s.TotalBytesProcessed,
			"bytes_read": s.BytesRead, "total_duration": s.Duration().Seconds(), "errors": s.Errors,
			"changed_while_read": s.ChangedWhileRead,
		})
		return
	}
	if a.quiet {
		return
	}
	if sn.Parent != nil {
		a.printf("%s backup, compared with snapshot %s\n", sn.Kind, sn.Parent.Short())
	} else {
		a.printf("%s backup\n", sn.Kind)
	}
	a.printf("Files: %d new, %d changed, %d unmodified\n", s.FilesNew, s.FilesChanged, s.FilesUnmodified)
	a.printf("Dirs:  %d new, %d changed, %d unmodified\n", s.DirsNew, s.DirsChanged, s.DirsUnmodified)
	if dryRun {
		a.printf("Would add to the repository: %s (about %s stored)\n", bytesText(s.DataAdded), bytesText(s.DataAddedPacked))
	} else {
		a.printf("Added to the repository: %s (%s stored)\n", bytesText(s.DataAdded), bytesText(s.DataAddedPacked))
	}
	a.printf("processed %d files, %s in %s\n", s.TotalFilesProcessed, bytesText(s.TotalBytesProcessed), s.Duration().Round(time.Millisecond))
	if len(s.Errors) > 0 {
		a.printf("%d entries could not be read:\n", len(s.Errors))
		for _, e := range s.Errors {
			a.printf("  %s\n", e)
		}
	}
	if len(s.ChangedWhileRead) > 0 {
		a.printf("%d files changed while they were read (their stored content may be inconsistent):\n", len(s.ChangedWhileRead))
		for _, p := range s.ChangedWhileRead {
			a.printf("  %s\n", p)
		}
	}
	if dryRun {
		a.printf("dry run: nothing was written\n")
		return
	}
	a.printf("snapshot %s saved\n", sn.ID.Short())
}
