package loadtest

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Arrival says how the operations of a run arrive.
type Arrival uint8

// Arrival processes.
const (
	// ArrivalClosed is the closed loop: each worker starts its next
	// operation when the previous one ends, so a slow system is offered
	// less work. It is the zero value, used when Config.Rate is zero.
	ArrivalClosed Arrival = iota
	// ArrivalConstant schedules operations evenly, 1/Rate apart.
	ArrivalConstant
	// ArrivalPoisson schedules operations as a Poisson process of rate
	// Rate: exponentially distributed gaps, as independent clients make.
	ArrivalPoisson
)

var arrivalNames = [...]string{"closed", "constant", "poisson"}

// String returns "closed", "constant" or "poisson".
func (a Arrival) String() string {
	if int(a) < len(arrivalNames) {
		return arrivalNames[a]
	}
	return "Arrival(" + strconv.Itoa(int(a)) + ")"
}

// Stage is one step of a load shape (see Config.Stages).
type Stage struct {
	// Duration is how long the stage lasts; it must be positive.
	Duration time.Duration `json:"duration_ns"`
	// Target is the concurrency (closed loop, rounded to a whole number of
	// workers) or the rate in operations per second (arrival rate) reached
	// at the stage's end. It must not be negative.
	Target float64 `json:"target"`
}

// Steady ends the warmup when the system is steady: when, over Intervals
// consecutive intervals, the median latency, the p99 latency and the
// throughput each vary by less than Tolerance (the spread between the
// largest and smallest value, relative to their mean), or when Max has
// passed, whichever comes first. The measured window then starts at the
// next interval boundary. The result says which ended it
// (Stats.EndedBy) and how many intervals were examined.
type Steady struct {
	// Tolerance is the relative spread allowed. Default: 0.2 (20%).
	Tolerance float64 `json:"tolerance"`
	// Intervals is the number of consecutive intervals that must agree.
	// Default: 3; at least 2.
	Intervals int `json:"intervals"`
	// Max bounds the warmup. Default: DefaultSteadyMax.
	Max time.Duration `json:"max_ns"`
}

// DefaultSteadyMax bounds a steady-state warmup when Steady.Max is zero.
const DefaultSteadyMax = 2 * time.Minute

// Why a warmup ended, as Stats.EndedBy records it.
const (
	EndedByDuration = "duration" // the fixed Config.Warmup passed
	EndedBySteady   = "steady"   // the system was steady
	EndedByMax      = "max"      // Steady.Max passed before it was
)

// openLoop reports whether the run is arrival-rate driven.
func (cfg *Config) openLoop() bool { return cfg.Arrival != ArrivalClosed || cfg.Rate != 0 }

func (cfg *Config) validateLoadModel() error {
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case cfg.Arrival > ArrivalPoisson:
		return bad("Arrival", "unknown arrival process %d", cfg.Arrival)
	case math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) || cfg.Rate < 0:
		return bad("Rate", "must be a positive number of operations per second, got %v", cfg.Rate)
	case cfg.Arrival != ArrivalClosed && cfg.Rate == 0:
		return bad("Rate", "must be positive for %s arrivals, got 0", cfg.Arrival)
	case cfg.MaxInFlight < 0:
		return bad("MaxInFlight", "must not be negative, got %d", cfg.MaxInFlight)
	case cfg.LateAfter < 0:
		return bad("LateAfter", "must not be negative, got %v", cfg.LateAfter)
	case math.IsNaN(cfg.OverloadTolerance) || cfg.OverloadTolerance < 0 || cfg.OverloadTolerance >= 1:
		return bad("OverloadTolerance", "must be within [0, 1), got %v", cfg.OverloadTolerance)
	case cfg.Interval < 0:
		return bad("Interval", "must not be negative, got %v", cfg.Interval)
	case cfg.Interval > 0 && cfg.Interval < time.Millisecond:
		return bad("Interval", "must be at least 1ms, got %v", cfg.Interval)
	}
	if !cfg.openLoop() {
		for _, f := range []struct {
			name string
			set  bool
		}{{"MaxInFlight", cfg.MaxInFlight != 0}, {"LateAfter", cfg.LateAfter != 0},
			{"OverloadTolerance", cfg.OverloadTolerance != 0}, {"DrainWarmup", cfg.DrainWarmup}} {
			if f.set {
				return bad(f.name, "applies to arrival-rate runs only: set Rate")
			}
		}
	}
	if s := cfg.Steady; s != nil {
		switch {
		case cfg.Warmup != 0:
			return bad("Warmup", "must be zero when Steady is set, got %v", cfg.Warmup)
		case math.IsNaN(s.Tolerance) || s.Tolerance < 0:
			return bad("Steady.Tolerance", "must not be negative, got %v", s.Tolerance)
		case s.Intervals < 0 || s.Intervals == 1:
			return bad("Steady.Intervals", "must be at least 2, got %d", s.Intervals)
		case s.Max < 0:
			return bad("Steady.Max", "must not be negative, got %v", s.Max)
		}
		interval := cfg.Interval
		if interval == 0 {
			interval = DefaultInterval
		}
		n := max(s.Intervals, 3)
		if s.Max > 0 && s.Max < time.Duration(n)*interval {
			return bad("Steady.Max", "%v is shorter than %d intervals of %v", s.Max, n, interval)
		}
	}
	var total time.Duration
	for i, st := range cfg.Stages {
		field := "Stages[" + strconv.Itoa(i) + "]"
		if st.Duration <= 0 {
			return bad(field+".Duration", "must be positive, got %v", st.Duration)
		}
		if math.IsNaN(st.Target) || math.IsInf(st.Target, 0) || st.Target < 0 {
			return bad(field+".Target", "must not be negative, got %v", st.Target)
		}
		total += st.Duration
	}
	if len(cfg.Stages) > 0 {
		want, what := cfg.Warmup+cfg.Duration, "Warmup + Duration"
		if cfg.Steady != nil {
			want, what = cfg.Duration, "Duration (the warmup is steady)"
		}
		if total != want {
			return bad("Stages", "durations add up to %v, want %s = %v", total, what, want)
		}
	}
	return nil
}

func (cfg *Config) setLoadModelDefaults() {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.openLoop() {
		if cfg.Arrival == ArrivalClosed {
			cfg.Arrival = ArrivalConstant
		}
		if cfg.MaxInFlight == 0 {
			cfg.MaxInFlight = max(DefaultMaxInFlight, 10*cfg.Workers)
		}
		if cfg.LateAfter == 0 {
			cfg.LateAfter = DefaultLateAfter
		}
		if cfg.OverloadTolerance == 0 {
			cfg.OverloadTolerance = DefaultOverloadTolerance
		}
	}
	if s := cfg.Steady; s != nil {
		c := *s // do not write to the caller's value
		if c.Tolerance == 0 {
			c.Tolerance = 0.2
		}
		if c.Intervals == 0 {
			c.Intervals = 3
		}
		if c.Max == 0 {
			c.Max = max(DefaultSteadyMax, time.Duration(c.Intervals)*cfg.Interval)
		}
		cfg.Steady = &c
	}
	cfg.Stages = append([]Stage(nil), cfg.Stages...)
}

// initialTarget is the concurrency or rate the run starts at.
func (cfg *Config) initialTarget() float64 {
	if cfg.openLoop() {
		return cfg.Rate
	}
	return float64(cfg.Workers)
}

// stageTarget is the target at offset t from the stages' start: linear
// within a stage, the last stage's target after the end.
func (cfg *Config) stageTarget(t time.Duration) (target float64, stage int) {
	from := cfg.initialTarget()
	for i, st := range cfg.Stages {
		if t < st.Duration {
			f := float64(t) / float64(st.Duration)
			return from + (st.Target-from)*f, i
		}
		t -= st.Duration
		from = st.Target
	}
	return from, len(cfg.Stages) - 1
}

// maxWorkers is the largest concurrency the stages reach in a closed-loop
// run: the sessions it needs are taken before the start.
func (cfg *Config) maxWorkers() int {
	n := cfg.Workers
	if !cfg.openLoop() {
		for _, st := range cfg.Stages {
			n = max(n, int(math.Round(st.Target)))
		}
	}
	return n
}
