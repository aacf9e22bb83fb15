package loadtest

import (
	"time"

	"github.com/startline/startline/timing"
)

// Interval is the statistics of one interval of a run (one second by
// default): what ended in it, by the phase in which it started.
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
	// Operations holds the same statistics per operation.
	Operations map[string]IntervalOp `json:"operations,omitempty"`
}

// IntervalOp is one operation's statistics in an Interval.
type IntervalOp struct {
	Ops     int64   `json:"ops"`
	Errors  int64   `json:"errors"`
	Latency Latency `json:"latency_ns"`
}
