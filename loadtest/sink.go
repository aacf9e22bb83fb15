package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/startline/startline/timing"
)

// Sink records runs: the test start, then the result. This is the
// contract every sink keeps and every Runner honours; package
// loadtest/sinktest checks a sink against it.
//
// Calls. For each run, a Runner calls TestStart at most once and then
// Write exactly once. TestStart comes before the start signal (or with
// Config.WritesAfterSignal after it), once setup succeeded: a run that
// fails earlier (in pool.init, say) gets Write without TestStart. Write is
// called for every run that New accepted, even when the run failed or was
// cancelled, with what was measured up to then (Result.Error and
// Result.Stopped say what happened), and with a context that is not
// cancelled with the run's: it has a deadline of its own (30 s), so that
// what was measured is not lost to the cancellation that ended the run.
// If TestStart fails, the run fails at results.test_start (or, with
// Config.BackgroundTestStart, Run returns its error at the end); Write is
// still called.
//
// Concurrency. A Runner calls its sinks from one goroutine at a time, with
// one exception: with Config.BackgroundTestStart, TestStart runs in a
// goroutine of its own, concurrently with the run's workers, and the
// Runner waits for it to return before it calls Write, so that TestStart
// never overlaps Write. A sink given to several Runners that run at once
// (the processes of a run in one program) is called concurrently by them,
// and must say whether it allows that; TextSink, JSONSink and sqlsink do.
//
// Rewrites. A run is named by its RunID and Node. Writing the same run and
// node again (a second TestStart, a retried Write, a spilled result
// loaded later) must not lose or double anything: a sink that stores
// results replaces what it holds of that run and node, and a sink that
// writes a document per result to a stream writes an equal document.
// Results of other nodes of the same run, and of other runs, are kept
// apart.
//
// Ownership. Write must not modify res; it may keep it, and the Runner
// does not modify it after Write either. An error from Write is joined
// into Run's error, with the result still returned; a sink that can save
// the result elsewhere when its store fails (sqlsink spills to a file)
// should, and say so in its error.
//
// Adding a sink: see package loadtest/sinktest for the files to write.
type Sink interface {
	// TestStart records that a run is about to start.
	TestStart(ctx context.Context, info RunInfo) error
	// Write records a run's result.
	Write(ctx context.Context, res *Result) error
}

// TextSink writes the human-readable report of each result to W, in one
// Write call per result, so that it may be shared by Runners that run at
// once when W may be written from many goroutines (as an *os.File may).
// Every result adds a report: the sink keeps nothing itself.
type TextSink struct{ W io.Writer }

// TestStart does nothing: the report is written at the end.
func (TextSink) TestStart(context.Context, RunInfo) error { return nil }

// Write writes res's report.
func (s TextSink) Write(_ context.Context, res *Result) error {
	var b bytes.Buffer
	if err := res.WriteText(&b); err != nil {
		return err
	}
	_, err := s.W.Write(b.Bytes())
	return err
}

// JSONSink writes each result to W as JSON, one document per result and
// one Write call per document, so that it may be shared by Runners that
// run at once when W may be written from many goroutines. Every result
// adds a document: the sink keeps nothing itself.
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

// WriteText writes the result as people read it: the startup waterfall
// and the start report, then the statistics of each phase and operation,
// the errors, and the thresholds.
func (r *Result) WriteText(w io.Writer) error {
	c := r.Config
	model := fmt.Sprintf("%d workers", c.Workers)
	if c.Rate > 0 {
		model = fmt.Sprintf("%s arrivals at %.0f/s, %d workers", c.Arrival, c.Rate, c.Workers)
	}
	fmt.Fprintf(w, "run %s on %s: %s, %d connections, warmup %s, measure %s\n",
		r.RunID, r.Node, model, c.Conns, timing.FormatDuration(c.Warmup), timing.FormatDuration(c.Duration))
	for _, kv := range []struct {
		name string
		m    map[string]string
	}{{"labels", r.Labels}, {"pool", r.Pool}} {
		if len(kv.m) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s:", kv.name)
		for _, k := range slices.Sorted(maps.Keys(kv.m)) {
			fmt.Fprintf(w, " %s=%s", k, kv.m[k])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	if err := timing.WriteWaterfall(w, r.Timeline); err != nil {
		return err
	}
	if s := r.Start; s != nil {
		fmt.Fprintf(w, "merged start of %d processes: T at %s", len(r.Workers), timing.FormatDuration(s.At))
		if s.Published != nil {
			fmt.Fprintf(w, ", published %s before T", timing.FormatDuration(s.At-*s.Published))
		}
		fmt.Fprintf(w, "; skew %s; T -> first query min %s  median %s  max %s (%d workers)\n",
			timing.FormatDuration(s.Skew), timing.FormatDuration(s.SignalToFirstQuery.Min),
			timing.FormatDuration(s.SignalToFirstQuery.Median), timing.FormatDuration(s.SignalToFirstQuery.Max), s.Workers)
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
	if len(r.Operations) > 1 {
		for _, name := range slices.Sorted(maps.Keys(r.Operations)) {
			if s := r.Operations[name]; s.Schedule != nil && s.Overloaded {
				fmt.Fprintf(w, "operation %s: OVERLOADED: %s\n", name, overloadWords(s.Throughput, s.Schedule.Load))
			}
		}
	}
	fmt.Fprintln(w)
	if err := writeServerSplit(w, r); err != nil {
		return err
	}
	if wu := r.Phases.Warmup; wu.EndedBy != "" {
		fmt.Fprintf(w, "warmup ended by %s after %s", wu.EndedBy, timing.FormatDuration(wu.Duration))
		if wu.Examined > 0 {
			fmt.Fprintf(w, " (%d intervals examined)", wu.Examined)
		}
		fmt.Fprintln(w)
	}
	for _, ph := range []struct {
		name string
		s    Stats
	}{{"warmup", r.Phases.Warmup}, {"measure", r.Phases.Measure}} {
		if sc := ph.s.Schedule; sc != nil {
			writeLoad(w, ph.name, ph.s)
		}
		if q := ph.s.Queue; q != nil || ph.s.Late > 0 || ph.s.Dropped > 0 {
			fmt.Fprintf(w, "%s: %d late, %d dropped", ph.name, ph.s.Late, ph.s.Dropped)
			f := timing.FormatDuration
			if l := ph.s.SchedLag; l != nil {
				fmt.Fprintf(w, "; pacer lag (scheduled -> released) p50 %s  p99 %s  max %s", f(l.P50), f(l.P99), f(l.Max))
			}
			if q != nil {
				fmt.Fprintf(w, "; queueing (released -> started) p50 %s  p99 %s  max %s", f(q.P50), f(q.P99), f(q.Max))
			}
			fmt.Fprintln(w)
		}
		for _, kind := range slices.Sorted(maps.Keys(ph.s.ErrorsByKind)) {
			fmt.Fprintf(w, "%s errors, %s: %d, first: %s\n", ph.name, kind, ph.s.ErrorsByKind[kind], ph.s.ErrorSamples[kind])
		}
	}
	for _, t := range r.Thresholds {
		verdict := "ok  "
		if !t.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "threshold %s %s (measured %s)\n", verdict, t.Name, formatValue(t.Name, t.Value))
	}
	if r.Stopped != "" {
		fmt.Fprintf(w, "stopped early: %s\n", r.Stopped)
	}
	writeStream(w, r.Stream)
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n", r.Error)
	}
	return nil
}

// writeLoad writes a phase's offered load against what it achieved, and,
// when the system did not keep up, says so in words, for the phase and for
// each operation.
func writeLoad(w io.Writer, name string, s Stats) {
	sc := s.Schedule
	fmt.Fprintf(w, "%s: offered %d (%.1f/s), achieved %.1f/s (%.1f%% of offered); %d completed after the window; backlog %d at the start, %d at the end\n",
		name, sc.Offered, sc.OfferedPerS, s.Throughput, 100*sc.AchievedRatio, sc.CompletedAfter, sc.BacklogStart, sc.BacklogEnd)
	if sc.Overloaded {
		fmt.Fprintf(w, "%s: OVERLOADED: %s\n", name, overloadWords(s.Throughput, sc.Load))
	}
}

// overloadWords says how a window fell behind.
func overloadWords(achieved float64, l Load) string {
	why := fmt.Sprintf("the system achieved %.1f/s of the %.1f/s offered", achieved, l.OfferedPerS)
	if grew := l.BacklogEnd - l.BacklogStart; grew > 0 {
		why += fmt.Sprintf(", and its backlog grew by %d operations", grew)
	}
	return why + ": it did not keep up, and latencies include the wait"
}

// formatValue shows a threshold's measured value in its metric's unit:
// durations for latencies, plain numbers for rates.
func formatValue(name string, v float64) string {
	if t, err := ParseThreshold(name); err == nil && t.IsLatency() {
		return timing.FormatDuration(time.Duration(v))
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

func statsRow(w io.Writer, name string, s Stats) {
	l := s.Latency
	f := timing.FormatDuration
	fmt.Fprintf(w, "%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", name, s.Ops, s.Errors, s.Throughput,
		f(l.P50), f(l.P90), f(l.P99), f(l.P999), f(l.Max))
}
