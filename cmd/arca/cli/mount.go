package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/mount"
	"github.com/spf13/cobra"
)

func (a *app) mountCommand() *cobra.Command {
	var (
		filter snapFilterFlags
		opts   mount.Options
	)
	cmd := &cobra.Command{
		Use:   "mount MOUNTPOINT",
		Short: "Browse the snapshots as a read-only file system (FUSE) until Ctrl-C",
		Long: `Mounts the snapshots (those passing --host, --tag and --path) at MOUNTPOINT:
snapshots/<time>/ (and snapshots/latest), hosts/<host>/<time>/,
tags/<tag>/<time>/ and ids/<id>/. Files are read from the repository when they
are read. Ctrl-C (or fusermount3 -u MOUNTPOINT) unmounts.`,
		Args: cobra.ExactArgs(1),
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			dir := args[0]
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return fmt.Errorf("mount point %s is not a directory", dir)
			}
			list, err := filter.selectSnapshots(ctx, r, nil)
			if err != nil {
				return err
			}
			server, err := mount.Mount(r, list, dir, opts)
			if err != nil {
				return err
			}
			if err := server.WaitMount(); err != nil {
				server.Unmount()
				return err
			}
			if a.json {
				a.printJSON(map[string]any{"message_type": "mounted", "mountpoint": dir, "snapshots": len(list)})
			} else {
				a.printf("%d snapshots mounted at %s; Ctrl-C to unmount\n", len(list), dir)
			}
			done := make(chan struct{})
			go func() { server.Wait(); close(done) }()
			select {
			case <-done:
				return nil // unmounted from outside
			case <-ctx.Done():
				if err := server.Unmount(); err != nil {
					return fmt.Errorf("unmount %s: %w (try fusermount3 -u %s)", dir, err, dir)
				}
				<-done
				if !a.json {
					a.printf("unmounted %s\n", dir)
				}
				return nil
			}
		}),
	}
	filter.register(cmd.Flags())
	cmd.Flags().BoolVar(&opts.AllowOther, "allow-other", false, "let other users read the mount")
	return cmd
}
