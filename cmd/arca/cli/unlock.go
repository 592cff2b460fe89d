package cli

import (
	"context"
	"errors"

	"github.com/arcabackup/arca/repo"
	"github.com/spf13/cobra"
)

// announce writes this process's heartbeat as a writer of op (docs/
// design.md, "Writers announce themselves"). The returned context ends if
// the heartbeat cannot be kept fresh; finish removes the heartbeat and
// turns such an end into its cause.
func (a *app) announce(ctx context.Context, r *repo.Repository, op string) (context.Context, func(error) error, error) {
	wctx, _, finish, err := a.announceAs(ctx, r, repo.AnnounceOptions{Operation: op})
	return wctx, finish, err
}

// announceAs is announce with every option (exclusive, solo); it fills in
// the host and user and also returns the heartbeat.
func (a *app) announceAs(ctx context.Context, r *repo.Repository, opts repo.AnnounceOptions) (context.Context, *repo.Heartbeat, func(error) error, error) {
	opts.Hostname, opts.Username = identity()
	hb, wctx, err := r.Announce(ctx, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	finish := func(err error) error {
		if cause := context.Cause(wctx); err != nil && errors.Is(cause, repo.ErrSilent) {
			err = cause
		}
		if derr := hb.Done(); err == nil && derr != nil {
			a.warnf("removing the heartbeat: " + derr.Error())
		}
		return err
	}
	return wctx, hb, finish, nil
}

// asWriter wraps a withRepo function so that it runs announced as a writer
// of op.
func (a *app) asWriter(op string, fn func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error) func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
	return func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
		wctx, finish, err := a.announce(ctx, r, op)
		if err != nil {
			return err
		}
		return finish(fn(wctx, r, cmd, args))
	}
}

func (a *app) unlockCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Remove the heartbeats of writers that are gone",
		Long: `Every writer (backup, tag, key, forget) keeps a heartbeat in the repository
while it runs. unlock removes those of writers that are gone: not refreshed for
30 minutes, or written on this host by a process that no longer exists, and
heartbeat files that cannot be read. Heartbeats of running writers stay.`,
		Args: cobra.NoArgs,
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			host, _ := identity()
			removed, err := r.RemoveStaleHeartbeats(ctx, host)
			for _, h := range removed {
				if a.json {
					a.printJSON(map[string]any{"message_type": "heartbeat_removed", "operation": h.Operation, "hostname": h.Hostname,
						"pid": h.PID, "start": h.Start, "time": h.Time})
				} else {
					a.printf("removed the stale heartbeat of %s\n", h)
				}
			}
			if err != nil {
				return err
			}
			if !a.json && len(removed) == 0 {
				a.printf("no stale heartbeats\n")
			}
			return nil
		}),
	}
}
