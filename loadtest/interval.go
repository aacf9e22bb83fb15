package loadtest

import (
	"time"

	"github.com/startline/startline/timing"
)

// Interval is the statistics of one interval of a run (one second by
// default): what ended in it, by the phase in which it started. Intervals
// restart at the start of the measured window, so an interval lies in one
// window; the operations that started in the warmup and ended in the first
// measured interval make an entry of their own, with Phase timing.Warmup
// and the same Start.
//
// Each worker hands its counts to the collector at its first operation
// after the interval's end (see collect.go); a worker still inside a long
// operation then hands them over late, and they are counted in the next
// interval collected. No operation is lost: the phase totals are the sum
// of the intervals.
type Interval struct {
	// Start is the interval's start on the run's timeline; it lasts
	// Duration.
	Start    time.Duration `json:"start_ns"`
	Duration time.Duration `json:"duration_ns"`
	// Phase is timing.Warmup or timing.Measure.
	Phase      timing.Phase `json:"phase"`
	Ops        int64        `json:"ops"`
	Errors     int64        `json:"errors"`
	Throughput float64      `json:"throughput_per_s"`
	Latency    Latency      `json:"latency_ns"`
	// Late and Dropped count, for arrival-rate runs, operations that
	// started after their scheduled time, and those not started because
	// the in-flight bound was reached.
	Late    int64 `json:"late,omitempty"`
	Dropped int64 `json:"dropped,omitempty"`
	// SchedLag and Queue summarise, for arrival-rate runs, the pacer's
	// lateness (scheduled start to release) and the wait for a worker
	// (release to start) of the operations that ended in the interval.
	SchedLag *Latency `json:"sched_lag_ns,omitempty"`
	Queue    *Latency `json:"queue_ns,omitempty"`
	// Load is, for arrival-rate runs, what the schedule offered in the
	// interval and the backlog at its start and end, against the
	// throughput of what completed in it (its fields are at this level in
	// JSON); nil otherwise, and in the entry of the other phase around the
	// measure start.
	*Load
	// Target is the concurrency (closed loop) or the rate (arrival rate)
	// aimed at when the interval ended.
	Target float64 `json:"target,omitempty"`
	// Elapsed is how far into its phase's window the interval ended, and
	// Remaining how long that window has still to run (for a steady
	// warmup: at most, until Steady.Max).
	Elapsed   time.Duration `json:"elapsed_ns"`
	Remaining time.Duration `json:"remaining_ns"`
	// Operations holds the same statistics per operation.
	Operations map[string]IntervalOp `json:"operations,omitempty"`
}

// IntervalOp is one operation's statistics in an Interval.
type IntervalOp struct {
	Ops     int64   `json:"ops"`
	Errors  int64   `json:"errors"`
	Latency Latency `json:"latency_ns"`
	// Load is the operation's part of the interval's Load.
	*Load
}
