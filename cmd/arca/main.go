// Command arca is a deduplicating, encrypted backup tool. See docs/cli.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/arcabackup/arca/cmd/arca/cli"
)

func main() {
	// arca's heap is mostly large, reused byte buffers: collecting at 50%
	// growth instead of 100% costs little CPU and keeps the footprint low.
	// GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	// A reader that stops early (arca dump ... | head) closes the pipe:
	// catching SIGPIPE turns that into an EPIPE error, which ends the
	// command quietly with exit 0. (Catching, unlike ignoring, is not
	// passed on to the programs arca runs.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "\ninterrupted: stopping (press Ctrl-C again to exit at once)")
		cancel()
		<-sigs
		os.Exit(cli.ExitInterrupted)
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}
