package cli

import (
	"context"
	"fmt"

	"github.com/arcabackup/arca/repo"
	"github.com/arcabackup/arca/repo/snapshot"
	"github.com/spf13/cobra"
)

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

// withRepo makes a command's RunE that opens the repository, runs fn and
// closes it. A command that went through but skipped missing or damaged
// objects (each reported as a warning) ends with repo.ErrDamaged.
func (a *app) withRepo(fn func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return a.withRepoMending(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
		return damaged(r, fn(ctx, r, cmd, args))
	})
}

// withRepoMending is withRepo for the repair commands: the damage they
// meet is what they mend, so success is success (the damage is still
// reported as warnings).
func (a *app) withRepoMending(fn func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		r, err := a.openRepo(ctx)
		if err != nil {
			return err
		}
		defer r.Close()
		return fn(ctx, r, cmd, args)
	}
}

// damaged turns a command's success into repo.ErrDamaged when it skipped
// damaged objects.
func damaged(r *repo.Repository, err error) error {
	if n := r.DamageCount(); err == nil && n > 0 {
		return fmt.Errorf("%w (%d, reported above)", repo.ErrDamaged, n)
	}
	return err
}
