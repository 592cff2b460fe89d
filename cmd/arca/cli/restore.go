package cli

import (
	"fmt"
	"time"

	"github.com/arcabackup/arca/repo/restore"
	"github.com/spf13/cobra"
)

func (a *app) restoreCommand() *cobra.Command {
	var target string
	cmd := &cobra.Command{
		Use:   "restore SNAPSHOT --target DIR",
		Short: "Restore a snapshot into a directory",
		Long:  "Restore a snapshot into a directory. SNAPSHOT is an ID, a unique ID prefix, or 'latest'.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if target == "" {
				return fmt.Errorf("restore: --target is required")
			}
			r, err := a.openRepo(cmd.Context())
			if err != nil {
				return err
			}
			defer r.Close()
			sn, err := findSnapshot(cmd, r, args[0])
			if err != nil {
				return err
			}
			prog := &restore.Progress{}
			start := time.Now()
			if !a.json {
				a.printf("restoring snapshot %s of %s at %s to %s\n", sn.ID.Short(), sn.Hostname, sn.Time.Local().Format(time.DateTime), target)
			}
			stop := a.startProgress(restoreView{prog})
			err = restore.Run(cmd.Context(), r, sn, restore.Options{
				Target: target, Progress: prog,
				Warn: func(path string, err error) { a.warnf(fmt.Sprintf("%s: %v", path, err)) },
			})
			stop()
			if a.json {
				a.printJSON(map[string]any{"message_type": "summary", "snapshot_id": sn.ID, "files_restored": prog.Files.Load(),
					"bytes_restored": prog.Bytes.Load(), "bytes_read": prog.BytesRead.Load(), "errors": prog.Errors.Load(),
					"total_duration": time.Since(start).Seconds()})
			} else {
				a.printf("restored %d files, %s in %s\n", prog.Files.Load(), bytesText(prog.Bytes.Load()), time.Since(start).Round(time.Millisecond))
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&target, "target", "t", "", "directory to restore into")
	return cmd
}

type restoreView struct{ p *restore.Progress }

func (v restoreView) line(el time.Duration) string {
	return fmt.Sprintf("[%s] %d files, %s restored, %s read", clock(el), v.p.Files.Load(), bytesText(v.p.Bytes.Load()), bytesText(v.p.BytesRead.Load()))
}

func (v restoreView) status(el time.Duration) any {
	return map[string]any{"message_type": "status", "seconds_elapsed": int64(el.Seconds()), "files_restored": v.p.Files.Load(),
		"bytes_restored": v.p.Bytes.Load(), "bytes_read": v.p.BytesRead.Load(), "error_count": v.p.Errors.Load()}
}
