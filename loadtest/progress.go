package loadtest

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"

	"github.com/startline/startline/timing"
)

// Progress returns Hooks that draw a live progress line on w while a run is
// on: the phase, the time elapsed and the length of its window, the
// throughput, the p99 latency and the errors of the last interval (and,
// in an arrival-rate run, the late and dropped operations). On a terminal
// the line is redrawn in place; otherwise one line is written per
// interval, so that logs stay readable. Compose it with other hooks with
// ComposeHooks; leave it out to turn progress off.
func Progress(w io.Writer) Hooks {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return Hooks{
		Interval: p.interval,
		PhaseDone: func(i PhaseDoneInfo) {
			if i.Phase == timing.Teardown {
				p.end()
			}
		},
	}
}

type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	drawn bool // a line is on the terminal without its newline
}

func (p *progress) interval(iv Interval) {
	line := progressLine(iv)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K"+line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, line)
}

func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// progressLine formats one interval, for example
// "measure   3.0s/10.0s  1523.0 ops/s  p99 2.1ms  errors 0".
func progressLine(iv Interval) string {
	f := timing.FormatDuration
	var b strings.Builder
	fmt.Fprintf(&b, "%-7s %6s/%s  %9.1f ops/s  p99 %s  errors %d",
		iv.Phase, f(iv.Elapsed), f(iv.Elapsed+iv.Remaining), iv.Throughput, f(iv.Latency.P99), iv.Errors)
	if iv.Late > 0 || iv.Dropped > 0 || iv.Queue != nil {
		fmt.Fprintf(&b, "  late %d  dropped %d", iv.Late, iv.Dropped)
	}
	if l := iv.Load; l != nil {
		fmt.Fprintf(&b, "  offered %.1f/s  backlog %d", l.OfferedPerS, l.BacklogEnd)
		if l.Overloaded {
			b.WriteString("  OVERLOADED: not keeping up")
		}
	}
	return b.String()
}
