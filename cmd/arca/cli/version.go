package cli

import (
	"runtime"

	"github.com/spf13/cobra"
)

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a.result(map[string]any{"message_type": "version", "version": Version, "go_version": runtime.Version(),
				"go_os": runtime.GOOS, "go_arch": runtime.GOARCH},
				"arca %s compiled with %s on %s/%s\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
