package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/startline/startline/timing"
)

// Sink records runs: the test start, then the result. A Runner calls a
// sink's methods from one goroutine at a time, but with
// Config.BackgroundTestStart TestStart may still be running while the
// workers run (never while Write is).
type Sink interface {
	// TestStart records that a run is about to start.
	TestStart(ctx context.Context, info RunInfo) error
	// Write records a run's result. It is called even when the run failed
	// or was cancelled, with what was measured, and with a context that
	// is not cancelled with the run's.
	Write(ctx context.Context, res *Result) error
}

// TextSink writes the human-readable report of each result to W.
type TextSink struct{ W io.Writer }

// TestStart does nothing: the report is written at the end.
func (TextSink) TestStart(context.Context, RunInfo) error { return nil }

// Write writes res's report.
func (s TextSink) Write(_ context.Context, res *Result) error { return res.WriteText(s.W) }

// JSONSink writes each result to W as JSON, one document per result.
type JSONSink struct {
	W io.Writer
	// Indent makes the JSON readable by people.
	Indent bool
}

// TestStart does nothing: the result is written at the end.
func (JSONSink) TestStart(context.Context, RunInfo) error { return nil }

// Write writes res as JSON.
func (s JSONSink) Write(_ context.Context, res *Result) error {
	enc := json.NewEncoder(s.W)
	if s.Indent {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(res)
}

// WriteText writes the result as people read it: the startup waterfall,
// then the statistics of each phase and of each operation.
func (r *Result) WriteText(w io.Writer) error {
	c := r.Config
	fmt.Fprintf(w, "run %s on %s: %d workers, %d connections, warmup %s, measure %s\n\n",
		r.RunID, r.Node, c.Workers, c.Conns, timing.FormatDuration(c.Warmup), timing.FormatDuration(c.Duration))
	if err := timing.WriteWaterfall(w, r.Timeline); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tops\terrors\tops/s\tp50\tp90\tp99\tp99.9\tmax\t")
	statsRow(tw, "warmup", r.Phases.Warmup)
	statsRow(tw, "measure", r.Phases.Measure)
	fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t")
	fmt.Fprintln(tw, "operation (measure)\tops\terrors\tops/s\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, name := range slices.Sorted(maps.Keys(r.Operations)) {
		statsRow(tw, name, r.Operations[name])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, ph := range []struct {
		name string
		s    Stats
	}{{"warmup", r.Phases.Warmup}, {"measure", r.Phases.Measure}} {
		for _, kind := range slices.Sorted(maps.Keys(ph.s.ErrorsByKind)) {
			fmt.Fprintf(w, "%s errors, %s: %d, first: %s\n", ph.name, kind, ph.s.ErrorsByKind[kind], ph.s.ErrorSamples[kind])
		}
	}
	if r.Stopped != "" {
		fmt.Fprintf(w, "stopped early: %s\n", r.Stopped)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n", r.Error)
	}
	return nil
}

func statsRow(w io.Writer, name string, s Stats) {
	l := s.Latency
	f := timing.FormatDuration
	fmt.Fprintf(w, "%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", name, s.Ops, s.Errors, s.Throughput,
		f(l.P50), f(l.P90), f(l.P99), f(l.P999), f(l.Max))
}
