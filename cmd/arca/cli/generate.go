package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func (a *app) generateCommand() *cobra.Command {
	var manDir, completionFile, shell string
	cmd := &cobra.Command{
		Use:   "generate [--man DIR] [--completion FILE --shell SHELL]",
		Short: "Write man pages or a shell completion script",
		Long: `Writes a man page for every command into DIR (--man), and/or the completion
script for SHELL (bash, zsh, fish or powershell) into FILE (--completion).
Completion offers snapshot IDs, hosts, tags and paths inside snapshots when the
repository opens without a prompt (ARCA_PASSWORD, ARCA_PASSWORD_FILE, ...).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			if manDir == "" && completionFile == "" {
				return errors.New("nothing to do: give --man DIR and/or --completion FILE --shell SHELL")
			}
			if manDir != "" {
				if err := os.MkdirAll(manDir, 0o755); err != nil {
					return err
				}
				root.DisableAutoGenTag = true // no date: the pages change only with the commands
				hdr := &doc.GenManHeader{Title: "ARCA", Section: "1", Source: "arca " + Version, Manual: "arca manual"}
				if err := doc.GenManTree(root, hdr, manDir); err != nil {
					return fmt.Errorf("man pages: %w", err)
				}
				a.printf("wrote man pages to %s\n", manDir)
			}
			if completionFile != "" {
				var err error
				switch shell {
				case "bash":
					err = root.GenBashCompletionFileV2(completionFile, true)
				case "zsh":
					err = root.GenZshCompletionFile(completionFile)
				case "fish":
					err = root.GenFishCompletionFile(completionFile, true)
				case "powershell":
					err = root.GenPowerShellCompletionFileWithDesc(completionFile)
				default:
					return fmt.Errorf("--shell %q: want bash, zsh, fish or powershell", shell)
				}
				if err != nil {
					return fmt.Errorf("completion: %w", err)
				}
				a.printf("wrote the %s completion to %s\n", shell, completionFile)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manDir, "man", "", "write a man page per command into `DIR`")
	cmd.Flags().StringVar(&completionFile, "completion", "", "write the completion script into `FILE`")
	cmd.Flags().StringVar(&shell, "shell", "bash", "the shell of --completion: bash, zsh, fish or powershell")
	return cmd
}
