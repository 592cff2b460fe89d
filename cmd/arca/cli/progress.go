package cli

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// progressView renders a running operation's state.
type progressView interface {
	line(elapsed time.Duration) string // one line for a terminal or -v
	status(elapsed time.Duration) any  // a --json status message
}

// startProgress reports v while an operation runs: redrawn in place a few
// times a second on a terminal; as JSON status lines every second with
// --json, and at the start and the end; as a plain line every 10 seconds with -v when stdout is not a
// terminal; not at all with -q. The returned function stops it.
func (a *app) startProgress(v progressView) func() {
	var interval time.Duration
	tty := a.isTerminal()
	switch {
	case a.quiet:
		return func() {}
	case a.json:
		interval = time.Second
	case tty:
		interval = 250 * time.Millisecond
	case a.verbose > 0:
		interval = 10 * time.Second
	default:
		return func() {}
	}
	width := 80
	if f, ok := a.stdout.(*os.File); ok && tty {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 10 {
			width = w
		}
	}
	start := time.Now()
	if a.json {
		a.printJSON(v.status(0)) // one at the start, however short the run
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				switch {
				case a.json:
					a.printJSON(v.status(time.Since(start))) // and one at the end
				case tty:
					fmt.Fprint(a.stdout, "\r\033[K")
				}
				return
			case <-t.C:
				el := time.Since(start)
				switch {
				case a.json:
					a.printJSON(v.status(el))
				case tty:
					s := v.line(el)
					if r := []rune(s); len(r) > width-1 {
						s = string(r[:width-1])
					}
					fmt.Fprintf(a.stdout, "\r\033[K%s", s)
				default:
					fmt.Fprintln(a.stdout, v.line(el))
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// eta estimates the time left from the fraction done.
func eta(elapsed time.Duration, done, total int64) time.Duration {
	if done <= 0 || total <= done {
		return 0
	}
	return time.Duration(float64(elapsed) * float64(total-done) / float64(done))
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}
