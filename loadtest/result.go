package loadtest

import (
	"encoding/json"
	"maps"
	"time"

	"github.com/startline/startline/timing"
)

// Result is what a run measured. Its JSON form (see MarshalJSON) is a
// contract that tools read.
type Result struct {
	RunID string `json:"run_id"`
	Node  string `json:"node"`
	// StartedAt is the wall-clock anchor of the timeline: offsets in
	// Timeline are from it.
	StartedAt time.Time `json:"started_at"`
	// Timeline holds every mark of the run, up to a failure if there was one.
	Timeline timing.Timeline `json:"-"`
	// Config records the run's shape.
	Config RunConfig `json:"config"`
	// Labels are Config.Labels, as given.
	Labels map[string]string `json:"labels,omitempty"`
	// Pool holds the pool's own description of its settings, for a pool
	// that gives one (see pool.Describer).
	Pool map[string]string `json:"pool,omitempty"`
	// Phases holds the warmup and the measure statistics, kept apart.
	Phases Phases `json:"phases"`
	// Operations holds the measure phase's statistics per operation.
	Operations map[string]Stats `json:"operations"`
	// WarmupOperations holds the warmup phase's statistics per operation.
	WarmupOperations map[string]Stats `json:"warmup_operations,omitempty"`
	// Intervals is the run's time series: one entry per interval and phase
	// (see Interval), in order.
	Intervals []Interval `json:"intervals"`
	// Thresholds are Config.Thresholds checked against the measured
	// window, in the order given.
	Thresholds []ThresholdResult `json:"thresholds,omitempty"`
	// Stopped says why the run ended before the end of its window, if it did.
	Stopped string `json:"stopped,omitempty"`
	// Error is the error that ended the run, if any.
	Error string `json:"error,omitempty"`
	// Stream says what became of the intervals streamed to Config.Stream;
	// nil without a stream.
	Stream *StreamStats `json:"stream,omitempty"`

	// Workers and Start are set on a result merged from many processes
	// (see Merge): each process's own timeline, and the start report.
	Workers []WorkerTimeline `json:"workers,omitempty"`
	Start   *StartReport     `json:"start,omitempty"`
}

// Phases are the statistics of the two windows.
type Phases struct {
	Warmup  Stats `json:"warmup"`
	Measure Stats `json:"measure"`
}

// RunConfig is the part of a Config that a result records.
type RunConfig struct {
	Workers  int           `json:"workers"`
	Conns    int           `json:"conns"`
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
	// Arrival is "closed" for a closed-loop run, else the arrival process
	// of an arrival-rate run at Rate operations per second.
	Arrival     string        `json:"arrival"`
	Rate        float64       `json:"rate,omitempty"`
	MaxInFlight int           `json:"max_in_flight,omitempty"`
	Stages      []Stage       `json:"stages,omitempty"`
	Steady      *Steady       `json:"steady,omitempty"`
	Interval    time.Duration `json:"interval_ns"`
	Operations  []OpConfig    `json:"operations"`
	Seed        uint64        `json:"seed"`
	// WritesAfterSignal is Config.WritesAfterSignal.
	WritesAfterSignal bool `json:"reference_order,omitempty"`
	// OverloadTolerance and DrainWarmup are the Config's, for an
	// arrival-rate run.
	OverloadTolerance float64 `json:"overload_tolerance,omitempty"`
	DrainWarmup       bool    `json:"drain_warmup,omitempty"`
}

// OpConfig is one operation as configured.
type OpConfig struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
}

// RunInfo is what a sink is told at the test start.
type RunInfo struct {
	RunID     string
	Node      string
	StartedAt time.Time
	Config    RunConfig
}

func (ru *run) runConfig() RunConfig {
	c := RunConfig{
		Workers: ru.cfg.Workers, Conns: ru.cfg.Conns,
		Warmup: ru.cfg.Warmup, Duration: ru.cfg.Duration,
		Seed: ru.cfg.Seed, WritesAfterSignal: ru.cfg.WritesAfterSignal,
		Arrival: ru.cfg.Arrival.String(), Rate: ru.cfg.Rate, MaxInFlight: ru.cfg.MaxInFlight,
		OverloadTolerance: ru.cfg.OverloadTolerance, DrainWarmup: ru.cfg.DrainWarmup,
		Stages: ru.cfg.Stages, Steady: ru.cfg.Steady, Interval: ru.cfg.Interval,
	}
	for _, op := range ru.cfg.Workload.Operations {
		c.Operations = append(c.Operations, OpConfig{Name: op.Name, Weight: op.Weight})
	}
	return c
}

func (ru *run) runInfo() RunInfo {
	return RunInfo{RunID: ru.cfg.RunID, Node: ru.cfg.Node, StartedAt: ru.rec.Anchor(), Config: ru.runConfig()}
}

// result merges the workers' tallies into a Result. It is called after
// every worker goroutine has returned.
func (ru *run) result() *Result {
	res := &Result{
		RunID:     ru.cfg.RunID,
		Node:      ru.cfg.Node,
		StartedAt: ru.rec.Anchor(),
		Timeline:  ru.rec.Timeline(),
		Config:    ru.runConfig(),
		Labels:    maps.Clone(ru.cfg.Labels),
		Stopped:   ru.stopReason,
	}
	ops := ru.cfg.Workload.Operations
	var windows [2]time.Duration
	if ru.started {
		warmupEnd := time.Duration(ru.plan.warmupEnd.Load()) // the measure start, unless a drain moved it
		windows[inWarmup] = min(ru.stoppedAt, warmupEnd) - ru.startAt
		windows[inMeasure] = max(0, ru.stoppedAt-ru.measureAt)
	}
	// Arrival rate: the schedule's counters at the end, which hold every
	// operation offered and dropped.
	var final *sample
	if ru.plan != nil && ru.plan.open && ru.started {
		final = ru.plan.sample(-1)
	}
	// The collector's totals: every interval buffer of every worker,
	// merged (see collect.go).
	byOp := ru.col.agg
	var byPhase [2]tally
	for ph := range byOp {
		if byOp[ph] == nil {
			byOp[ph] = make([]tally, len(ops))
		}
		for i := range ops {
			if final != nil {
				byOp[ph][i].dropped = final.dropped[ph][i]
			}
			byPhase[ph].merge(&byOp[ph][i])
		}
	}
	res.Phases.Warmup = ru.phaseStats(&byPhase[inWarmup], inWarmup, -1, windows[inWarmup], final, 0)
	res.Phases.Measure = ru.phaseStats(&byPhase[inMeasure], inMeasure, -1, windows[inMeasure], final, byPhase[inWarmup].carriedOK)
	res.Phases.Warmup.EndedBy = ru.col.endedBy
	res.Phases.Warmup.Examined = ru.col.examined
	res.Intervals = ru.col.intervals
	if res.Intervals == nil {
		res.Intervals = []Interval{}
	}
	res.Operations = make(map[string]Stats, len(ops))
	for i, op := range ops {
		res.Operations[op.Name] = ru.phaseStats(&byOp[inMeasure][i], inMeasure, i, windows[inMeasure], final, byOp[inWarmup][i].carriedOK)
		if byOp[inWarmup][i].count() > 0 {
			if res.WarmupOperations == nil {
				res.WarmupOperations = make(map[string]Stats, len(ops))
			}
			res.WarmupOperations[op.Name] = ru.phaseStats(&byOp[inWarmup][i], inWarmup, i, windows[inWarmup], final, 0)
		}
	}
	return res
}

// phaseStats turns the tally of phase ph (of operation op, or all when op
// < 0) over its window of length d into Stats, with, in an arrival-rate
// run, its Schedule: the operations offered from the final counters, the
// backlog from the samples at the window's ends, and the throughput with
// the carried successful operations of the window before.
func (ru *run) phaseStats(t *tally, ph, op int, d time.Duration, final *sample, carried int64) Stats {
	s := t.stats(d)
	if final == nil {
		return s
	}
	s.Throughput += rate(carried, d)
	from, to := ru.col.win[ph][0], ru.col.win[ph][1]
	if from == nil {
		from = ru.plan.zeroSample()
	}
	switch {
	case to == nil:
		to = final // the window did not end as planned
	case ph == inMeasure:
		// The pacer schedules nothing after the measured window, and
		// may have released its last operations after the collector read
		// the end: the counts are the final ones, with what had begun at
		// the end.
		end := *final
		end.begun = to.begun
		end.setBacklog()
		to = &end
	}
	l := load(from, to, ph, op)
	l.Offered = load(ru.plan.zeroSample(), final, ph, op).Offered
	l.judge(s.Throughput, d, ru.cfg.OverloadTolerance)
	s.Schedule = &Schedule{Load: l, CompletedAfter: t.after, CarriedIn: carried}
	return s
}

// resultFields is Result without its methods, so that MarshalJSON can embed
// it without recursing.
type resultFields Result

// resultJSON is the wire form of a Result: the timeline's marks sit at the
// top level, with the anchor as started_at.
type resultJSON struct {
	*resultFields
	ClockOffset time.Duration `json:"clock_offset_ns"`
	ClockError  time.Duration `json:"clock_error_ns"`
	Marks       []timing.Mark `json:"timeline"`
}

// MarshalJSON encodes the result in its documented form: run_id,
// started_at (RFC 3339), timeline (the marks, offsets from started_at),
// phases.warmup and phases.measure, and operations.
func (r *Result) MarshalJSON() ([]byte, error) {
	marks := r.Timeline.Marks
	if marks == nil {
		marks = []timing.Mark{}
	}
	return json.Marshal(resultJSON{
		resultFields: (*resultFields)(r),
		ClockOffset:  r.Timeline.ClockOffset,
		ClockError:   r.Timeline.ClockError,
		Marks:        marks,
	})
}

// UnmarshalJSON decodes what MarshalJSON encoded.
func (r *Result) UnmarshalJSON(b []byte) error {
	w := resultJSON{resultFields: (*resultFields)(r)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	r.Timeline = timing.Timeline{
		Node: r.Node, Anchor: r.StartedAt,
		ClockOffset: w.ClockOffset, ClockError: w.ClockError,
		Marks: w.Marks,
	}
	if r.Start != nil {
		// The spread's count, which its JSON leaves out, is the workers'.
		r.Start.SignalToFirstQuery.N = r.Start.Workers
	}
	return nil
}
