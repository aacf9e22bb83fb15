package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/loadtest"
)

// The fleet, live: every node streams its intervals as they close (to the
// results store's stream table); the orchestrator merges them as they
// arrive, prints one line per fleet interval, checks -threshold on the
// merged measured window (and aborts every node under -abort-on-fail), and
// at the end keeps what a lost node streamed in the merged result.

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// fleetLive is the live merge of one run, following the stream in the
// background until stop.
type fleetLive struct {
	merge  *loadtest.LiveMerge
	src    loadtest.StreamSource
	cancel context.CancelFunc
	done   chan error
}

// followFleet starts merging the stream of run from T on; progress lines
// go to w.
func followFleet(ctx context.Context, w io.Writer, f flags, run *coordinate.Run, sig coordinate.Signal, nodes []string, src loadtest.StreamSource, page liveSink) (*fleetLive, error) {
	offset, _ := run.ClockOffset()
	opts := loadtest.LiveOptions{
		RunID: f.run, Nodes: nodes, Start: sig.At.Add(-offset),
		Thresholds: f.thresholds, AbortOnFail: f.abortOnFail, AbortGrace: f.abortGrace,
		Lost: run.Lost, Progress: w,
		OnAbort: func(r loadtest.ThresholdResult) {
			reason := fmt.Sprintf("threshold %s failed (measured %s)", r.Name, r.Measured())
			fmt.Fprintf(w, "fleet: %s: aborting every node\n", reason)
			if _, err := run.Send(context.WithoutCancel(ctx), coordinate.Event{Kind: coordinate.EventAbort, Reason: reason}); err != nil {
				fmt.Fprintf(w, "fleet: sending the abort: %v\n", err)
			}
		},
		OnInterval: page.interval,
	}
	m, err := loadtest.NewLiveMerge(opts)
	if err != nil {
		return nil, err
	}
	fctx, cancel := context.WithCancel(ctx)
	l := &fleetLive{merge: m, src: src, cancel: cancel, done: make(chan error, 1)}
	go func() { l.done <- m.Follow(fctx, src) }()
	return l, nil
}

// stop ends the following, after its last full read of the stream.
func (l *fleetLive) stop() error {
	l.cancel()
	return <-l.done
}

// finish merges the results, the lost nodes' streams and the
// orchestrator's timeline (see loadtest.LiveMerge.Finish).
func (l *fleetLive) finish(ctx context.Context, run *coordinate.Run, got []*loadtest.Result, lost []string) (*loadtest.Result, error) {
	return l.merge.Finish(ctx, l.src, run.Timeline(), got, lost)
}

// rebuilt returns the nodes of lost that the merged result holds, from
// their streams.
func rebuilt(m *loadtest.Result, lost []string) map[string]bool {
	out := map[string]bool{}
	if m == nil {
		return out
	}
	for _, w := range m.Workers {
		if w.Lost && w.Phases != nil && w.Phases.Warmup.Ops+w.Phases.Measure.Ops > 0 {
			out[w.Node] = true
		}
	}
	return out
}

// liveSink is where the fleet's intervals go besides the progress lines:
// the live page, when -live serves one.
type liveSink interface{ interval(loadtest.FleetInterval) }

type noPage struct{}

func (noPage) interval(loadtest.FleetInterval) {}

// reportFleet prints what the live merge added: lost nodes kept, the
// stream's losses, the fleet thresholds and why the run stopped.
func reportFleet(w io.Writer, m *loadtest.Result) {
	for _, wt := range m.Workers {
		if wt.Lost && wt.Phases != nil {
			fmt.Fprintf(w, "  %s lost: kept %d measured ops from its stream\n", wt.Node, wt.Phases.Measure.Ops)
		}
	}
	if m.Stream != nil {
		fmt.Fprintln(w, m.Stream)
	}
	for _, t := range m.Thresholds {
		verdict := "ok  "
		if !t.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "threshold %s %s (measured %s)\n", verdict, t.Name, t.Measured())
	}
	if m.Stopped != "" {
		fmt.Fprintf(w, "stopped: %s\n", m.Stopped)
	}
}
