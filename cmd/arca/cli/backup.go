package cli

import (
	"fmt"
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
			if cmd.Flags().Changed("read-concurrency") && (readers < 1 || readers > 1024) {
				return fmt.Errorf("--read-concurrency %d: give a number of files from 1 to 1024", readers)
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
			finish := func(err error) error { return err }
			if !dryRun {
				if ctx, finish, err = a.announce(ctx, r, "backup"); err != nil {
					return err
				}
			}
			hostname, username := identity()
			if host != "" {
				hostname = host
			}
			opts := backup.Options{
				Paths: paths, Excludes: excludes, Tags: splitTags(tags), Hostname: hostname, Username: username,
				Kind: kind, Readers: readers, Compression: pack.Compression(compression), Time: snTime, DryRun: dryRun, WithAtime: withAtime,
				Program: "arca " + Version, Progress: &backup.Progress{},
				Warn:   func(path string, err error) { a.itemError("archival", path, err) },
				Report: a.backupItems(),
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
			err = damaged(r, finish(err))
			if sn == nil {
				return err
			}
			a.printBackupSummary(sn, dryRun)
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&tags, "tag", nil, "add these `tags` to the snapshot (a,b; repeatable)")
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
