package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// addProfileFlags adds hidden flags that write CPU and heap profiles, for
// performance work.
func (a *app) addProfileFlags(root *cobra.Command) {
	var cpu, mem string
	f := root.PersistentFlags()
	f.StringVar(&cpu, "cpu-profile", "", "write a CPU profile to this file")
	f.StringVar(&mem, "mem-profile", "", "write a heap profile to this file at exit")
	_ = f.MarkHidden("cpu-profile")
	_ = f.MarkHidden("mem-profile")
	var cpuFile *os.File
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if cpu == "" {
			return nil
		}
		var err error
		if cpuFile, err = os.Create(cpu); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		return pprof.StartCPUProfile(cpuFile)
	}
	root.PersistentPostRunE = func(cmd *cobra.Command, args []string) error {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			cpuFile.Close()
		}
		if mem != "" {
			f, err := os.Create(mem)
			if err != nil {
				return fmt.Errorf("heap profile: %w", err)
			}
			defer f.Close()
			runtime.GC()
			return pprof.Lookup("allocs").WriteTo(f, 0)
		}
		return nil
	}
}
