package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/arcabackup/arca/crypto"
	"github.com/arcabackup/arca/repo"
	"github.com/spf13/cobra"
)

// keyMaker is Repository.AddKey or Repository.ChangePassword.
type keyMaker func(r *repo.Repository, ctx context.Context, pw []byte, kdf crypto.KDFParams, host, user string) (crypto.ID, error)

func (a *app) keyCommand() *cobra.Command {
	var newPasswordFile string
	// The new password: --new-password-file, else ARCA_NEW_PASSWORD, else
	// the terminal.
	newPassword := func() ([]byte, error) {
		if newPasswordFile != "" {
			b, err := os.ReadFile(newPasswordFile)
			if err != nil {
				return nil, fmt.Errorf("new password file: %w", err)
			}
			return trimPassword(b, "new password file "+newPasswordFile)
		}
		if pw := a.getenv("ARCA_NEW_PASSWORD"); pw != "" {
			return []byte(pw), nil
		}
		pw, err := a.prompt("Enter the new password: ", true)
		if errors.Is(err, errNoTerminal) {
			return nil, errors.New("no new password: set ARCA_NEW_PASSWORD or --new-password-file, or run on a terminal")
		}
		return pw, err
	}
	// newKey makes a command that writes a key file for a new password.
	newKey := func(use, short string, make keyMaker, messageType, format string) *cobra.Command {
		c := &cobra.Command{
			Use: use, Short: short, Args: cobra.NoArgs,
			PreRunE: func(*cobra.Command, []string) error { return a.kdf.Validate() },
			RunE: a.withRepo(a.asWriter("key", func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
				pw, err := newPassword()
				if err != nil {
					return err
				}
				host, user := identity()
				id, err := make(r, ctx, pw, a.kdf, host, user)
				if err != nil {
					return err
				}
				a.result(map[string]any{"message_type": messageType, "id": id}, format, id.Short())
				return nil
			})),
		}
		c.Flags().StringVar(&newPasswordFile, "new-password-file", "", "read the new password from a file (or env ARCA_NEW_PASSWORD)")
		a.addKDFFlags(c)
		return c
	}
	cmd := &cobra.Command{Use: "key", Short: "Manage the passwords (key files) that open the repository"}
	list := &cobra.Command{
		Use: "list", Short: "List key files", Args: cobra.NoArgs,
		RunE: a.withRepo(func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			keys, err := r.Keys(ctx)
			if err != nil {
				return err
			}
			if a.json {
				a.printJSON(keys)
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, " ID\tUser\tHost\tCreated")
			for _, k := range keys {
				mark := " "
				if k.Current {
					mark = "*"
				}
				fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", mark, k.ID.Short(), k.Username, k.Hostname, k.Created.Local().Format(time.DateTime))
			}
			return tw.Flush()
		}),
	}
	remove := &cobra.Command{
		Use: "remove ID", Short: "Remove a password (not the one in use)", Args: cobra.ExactArgs(1),
		RunE: a.withRepo(a.asWriter("key", func(ctx context.Context, r *repo.Repository, cmd *cobra.Command, args []string) error {
			keys, err := r.Keys(ctx)
			if err != nil {
				return err
			}
			var match []crypto.ID
			for _, k := range keys {
				if strings.HasPrefix(k.ID.String(), strings.ToLower(args[0])) {
					match = append(match, k.ID)
				}
			}
			if len(match) != 1 {
				return fmt.Errorf("key %q matches %d keys ('arca key list' shows them)", args[0], len(match))
			}
			if err := r.RemoveKey(ctx, match[0]); err != nil {
				return err
			}
			a.result(map[string]any{"message_type": "key_removed", "id": match[0]}, "removed key %s\n", match[0].Short())
			return nil
		})),
	}
	add := newKey("add", "Add a password", (*repo.Repository).AddKey, "key_added", "added key %s\n")
	passwd := newKey("passwd", "Change the password in use", (*repo.Repository).ChangePassword, "password_changed", "password changed; new key %s\n")
	cmd.AddCommand(list, add, remove, passwd)
	return cmd
}

func (a *app) result(v any, format string, args ...any) {
	if a.json {
		a.printJSON(v)
		return
	}
	a.printf(format, args...)
}
