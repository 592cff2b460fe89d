package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/restore"
	"github.com/spf13/cobra"
)

func (a *app) restoreCommand() *cobra.Command {
	var (
		target    string
		overwrite string
		pick      pickFlags
		filters   restoreFilterFlags
		opts      restore.Options
	)
	cmd := &cobra.Command{
		Use:   "restore [SNAPSHOT][:PATH] --target DIR",
		Short: "Restore a snapshot, a directory or files of it into a directory",
		Long: `Restores a snapshot into a directory. SNAPSHOT is an ID, a unique prefix, or
latest (the latest passing --host/--tag/--path); --at TIME picks the newest
snapshot taken at or before TIME instead (give no SNAPSHOT with it).
SNAPSHOT:PATH (or :PATH with --at) restores what is at PATH in the snapshot: a
directory's contents, or one file; latest and --at then pick the newest
snapshot that holds PATH. --include and --exclude
select paths inside the snapshot (docs/filters.md).

Existing files: --overwrite if-changed (default) leaves files whose content
already matches and fixes their metadata; always replaces them; if-newer
replaces them only with newer ones; never leaves them. Files are written under
a temporary name and renamed into place, so an interrupted restore can simply
be run again: complete files are kept, partial ones completed.`,
		Args: cobra.RangeArgs(0, 1),
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			if target == "" {
				return fmt.Errorf("restore: --target is required")
			}
			var err error
			if opts.Overwrite, err = restore.ParseOverwrite(overwrite); err != nil {
				return err
			}
			if opts.Include, err = patternList(filters.include, filters.iinclude, filters.includeFile, filters.iincludeFile); err != nil {
				return err
			}
			if opts.Exclude, err = patternList(filters.exclude, filters.iexclude, filters.excludeFile, filters.iexcludeFile); err != nil {
				return err
			}
			ref := ""
			if len(args) == 1 {
				ref = args[0]
			}
			sn, sub, _, err := a.pick(ctx, r, &pick, ref, "")
			if err != nil {
				return err
			}
			prog := &restore.Progress{}
			start := time.Now()
			if !a.json {
				verb := "restoring"
				if opts.DryRun {
					verb = "would restore"
				}
				a.printf("%s %s of snapshot %s of %s at %s to %s\n", verb, sub, sn.ID.Short(), sn.Hostname, sn.Time.Local().Format(time.DateTime), target)
			}
			opts.Target, opts.Root, opts.Progress = target, sub, prog
			opts.Warn = func(path string, err error) { a.itemError("restore", path, err) }
			if opts.DryRun || a.verbose > 0 {
				opts.Report = func(act restore.Action, path string) {
					if act == restore.ActionUnchanged && a.verbose < 2 {
						return
					}
					if a.json {
						a.printJSON(map[string]any{"message_type": "verbose_status", "action": act, "item": path})
					} else {
						a.printf("%-9s %s\n", act, path)
					}
				}
			}
			stop := a.startProgress(restoreView{prog})
			err = restore.Run(ctx, r, sn, opts)
			stop()
			if err != nil && !errors.Is(err, restore.ErrIncomplete) && !errors.Is(err, context.Canceled) {
				return err // nothing was restored: no summary
			}
			el := time.Since(start)
			if a.json {
				a.printJSON(map[string]any{"message_type": "summary", "snapshot_id": sn.ID, "dry_run": opts.DryRun,
					"files_restored": prog.Files.Load(), "files_unchanged": prog.Unchanged.Load(), "files_skipped": prog.Skipped.Load(),
					"files_deleted": prog.Deleted.Load(), "files_verified": prog.Verified.Load(),
					"bytes_restored": prog.Bytes.Load(), "bytes_read": prog.BytesRead.Load(), "errors": prog.Errors.Load(),
					"total_duration": el.Seconds()})
				return err
			}
			verb := "restored"
			if opts.DryRun {
				verb = "would restore"
			}
			a.printf("%s %d files (%s), %d unchanged, %d skipped, %d deleted; read %s from the repository in %s\n",
				verb, prog.Files.Load(), bytesText(prog.Bytes.Load()), prog.Unchanged.Load(), prog.Skipped.Load(),
				prog.Deleted.Load(), bytesText(prog.BytesRead.Load()), el.Round(time.Millisecond))
			if opts.Verify {
				a.printf("verified %d files\n", prog.Verified.Load())
			}
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&target, "target", "t", "", "directory to restore into")
	pick.register(f)
	filters.register(cmd)
	f.StringVar(&overwrite, "overwrite", string(restore.OverwriteIfChanged), "existing files: always, if-changed, if-newer or never")
	f.BoolVar(&opts.Delete, "delete", false, "delete files in the target that the snapshot does not have (in restored directories)")
	f.BoolVarP(&opts.DryRun, "dry-run", "n", false, "print what would change; write nothing")
	f.BoolVar(&opts.Verify, "verify", false, "read every restored file back and check it against the snapshot")
	f.BoolVar(&opts.NumericOwner, "numeric-owner", false, "restore the stored user and group IDs, not the IDs of the stored names")
	return cmd
}
