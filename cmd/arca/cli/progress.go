package cli

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/term"
	"os"
)

// startProgress redraws line() in place a few times a second while stdout
// is a terminal (and not --quiet or --json). The returned function stops it
// and clears the line.
func (a *app) startProgress(line func() string) func() {
	if a.quiet || a.json || !a.isTerminal() {
		return func() {}
	}
	width := 80
	if f, ok := a.stdout.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 10 {
			width = w
		}
	}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(a.stdout, "\r\033[K")
				return
			case <-t.C:
				s := fmt.Sprintf("[%s] %s", time.Since(start).Round(time.Second), line())
				if len(s) > width-1 {
					s = s[:width-1]
				}
				fmt.Fprintf(a.stdout, "\r\033[K%s", s)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
