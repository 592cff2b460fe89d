package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"

	"github.com/spf13/cobra"
)

// addProfileFlags adds hidden flags that write CPU and heap profiles and
// an execution trace (go tool trace: where goroutines run and wait), for
// performance work.
func (a *app) addProfileFlags(root *cobra.Command) {
	var cpu, mem, exec string
	f := root.PersistentFlags()
	f.StringVar(&cpu, "cpu-profile", "", "write a CPU profile to this file")
	f.StringVar(&mem, "mem-profile", "", "write a heap profile to this file at exit")
	f.StringVar(&exec, "trace", "", "write an execution trace to this file")
	_ = f.MarkHidden("cpu-profile")
	_ = f.MarkHidden("mem-profile")
	_ = f.MarkHidden("trace")
	var cpuFile, traceFile *os.File
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		var err error
		if exec != "" {
			if traceFile, err = os.Create(exec); err != nil {
				return fmt.Errorf("trace: %w", err)
			}
			if err := trace.Start(traceFile); err != nil {
				return fmt.Errorf("trace: %w", err)
			}
		}
		if cpu == "" {
			return nil
		}
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
		if traceFile != nil {
			trace.Stop()
			traceFile.Close()
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
