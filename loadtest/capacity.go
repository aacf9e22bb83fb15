package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/startline/startline/timing"
)

// Defaults of a CapacitySearch.
const (
	DefaultCapacityStart     = 10.0
	DefaultCapacityFactor    = 2.0
	DefaultCapacityPrecision = 0.05
	DefaultCapacitySteps     = 12
	DefaultMinAchieved       = 0.99
	DefaultMaxErrorRate      = 0.001
)

// CapacitySearch says how SearchCapacity looks for the highest rate at
// which a service level objective holds. Its zero value is the defaults.
type CapacitySearch struct {
	// SLO are thresholds (as Config.Thresholds, for example "p99<50ms")
	// that every passing step's measured window must hold, besides
	// achieving MinAchieved of its offered rate with an error rate below
	// MaxErrorRate and not being overloaded. Default: Config.Thresholds
	// in SearchCapacity, none in SearchCapacitySteps.
	SLO []string
	// MinAchieved is the least achieved ratio (Load.AchievedRatio) of a
	// passing step. Default: DefaultMinAchieved. The throughput a window
	// achieves leaves out what completed after it, about one latency's
	// worth of the offered rate, so a window much longer than the
	// latencies allowed keeps that share small.
	MinAchieved float64
	// MaxErrorRate is the error rate a passing step stays below. Default:
	// DefaultMaxErrorRate.
	MaxErrorRate float64
	// Start is the first rate tried, in operations per second. Default:
	// Config.Rate if set (in SearchCapacity), else DefaultCapacityStart.
	Start float64
	// Factor multiplies the rate from one coarse step to the next until a
	// step fails. Default: DefaultCapacityFactor; it must exceed 1.
	Factor float64
	// Precision ends the bisection between the highest passing rate and
	// the lowest failing one when they are closer than this fraction of
	// the passing one. Default: DefaultCapacityPrecision.
	Precision float64
	// MaxSteps bounds the number of steps. Default: DefaultCapacitySteps.
	MaxSteps int
	// Budget, when positive, bounds the search's time: a step that would
	// end after it (judged by the longest step so far) is not started.
	Budget time.Duration
	// Confirm runs a rate that failed once more: the rate fails only if
	// it fails again (the retry is a step of kind "confirm"). On a machine
	// shared with other work a step far below capacity can miss a latency
	// SLO to a stall that is not the system's; Confirm keeps one such step
	// from ending the coarse steps early, for one more step per failing
	// rate.
	Confirm bool
	// OnStep, when set, is called after each step, for progress.
	OnStep func(CapacityStep)
}

// Capacity is what SearchCapacity found: every step, in the order run,
// and the highest rate that passed.
type Capacity struct {
	// MaxRate is the highest offered rate, in operations per second, at
	// which a step passed; zero when none did.
	MaxRate float64 `json:"max_rate"`
	// Knee is the step that passed at MaxRate; -1 when none did.
	Knee int `json:"knee"`
	// FirstFail is the lowest offered rate at which a step failed; zero
	// when none did (the capacity is then above MaxRate).
	FirstFail float64 `json:"first_fail_rate,omitempty"`
	// Conditions are what a passing step held, as written.
	Conditions []string `json:"conditions"`
	// Steps are the steps, in the order they ran.
	Steps []CapacityStep `json:"steps"`
	// Ended says why the search stopped: "converged" (the bisection's
	// interval is within Precision), "steps", "budget", "cancelled", or
	// "error" (a step failed to run: the search's error says why).
	Ended   string        `json:"ended"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// CapacityStep is one arrival-rate run of a capacity search: its own
// warmup and measured window at one rate, on the same pool.
type CapacityStep struct {
	// Kind is "coarse" (stepping up by Factor), "bisect", or "confirm"
	// (a failed rate run again: see CapacitySearch.Confirm).
	Kind string `json:"kind"`
	// Rate is the rate the step offered, OfferedPerS what its schedule
	// held, ThroughputPerS what completed inside its measured window.
	Rate           float64 `json:"rate"`
	OfferedPerS    float64 `json:"offered_per_s"`
	ThroughputPerS float64 `json:"throughput_per_s"`
	AchievedRatio  float64 `json:"achieved_ratio"`
	Latency        Latency `json:"latency_ns"`
	Ops            int64   `json:"ops"`
	Errors         int64   `json:"errors"`
	ErrorRate      float64 `json:"error_rate"`
	CompletedAfter int64   `json:"completed_after"`
	BacklogStart   int64   `json:"backlog_start"`
	BacklogEnd     int64   `json:"backlog_end"`
	Overloaded     bool    `json:"overloaded"`
	// Pass says the step held every condition; Failed names those it did
	// not hold (a threshold as written, or "overloaded").
	Pass   bool     `json:"pass"`
	Failed []string `json:"failed,omitempty"`
	// RunID is the step's run, whose result the sinks received.
	RunID   string        `json:"run_id"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// SearchCapacity looks for the highest arrival rate at which cfg's
// workload meets an SLO: it runs a sequence of arrival-rate steps (each a
// Run of cfg at one rate, with cfg's warmup and measured window, on the
// same pool, which stays warm between them), first stepping up from
// s.Start by s.Factor until a step fails, then bisecting between the
// highest passing and the lowest failing rate, until they are within
// s.Precision of each other, s.MaxSteps steps have run, or s.Budget would
// be passed. A step passes when its measured window holds the SLO,
// achieves s.MinAchieved of what it offered, errs less than
// s.MaxErrorRate and is not overloaded.
//
// cfg must be valid for an arrival-rate run apart from its Rate, which
// each step sets, and must have no Stages. Each step's result goes to
// cfg.Sinks with the RunID cfg.RunID (or "capacity") and ".step-N". A
// Coordinator in cfg must start every step (each Run joins it anew). The
// error is a configuration error, or the error of a step that failed to
// run (a step that runs and misses the SLO is not an error); with it comes
// what was found up to then. Cancelling ctx ends the search with the steps
// so far and ctx's error.
//
// SearchCapacity is SearchCapacitySteps with steps that are Runs of cfg in
// this process; a fleet's search runs each step across its processes.
func SearchCapacity(ctx context.Context, cfg Config, s CapacitySearch) (*Capacity, error) {
	if s.Start == 0 && cfg.Rate > 0 {
		s.Start = cfg.Rate
	}
	if s.SLO == nil {
		s.SLO = cfg.Thresholds
	}
	s, conds, err := s.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(cfg.Stages) > 0 {
		return nil, &ConfigError{Field: "Stages", Reason: "must be empty for a capacity search: each step runs at one rate"}
	}
	base := cfg.RunID
	if base == "" {
		base = "capacity-" + time.Now().UTC().Format("20060102T150405")
	}
	cfg.Thresholds = conds
	// Checked once, at the first rate, so that a bad Config fails before
	// any step runs.
	cfg.Rate = s.Start
	cfg.RunID = CapacityStepRunID(base, 1)
	if _, err := New(cfg); err != nil {
		return nil, err
	}
	return SearchCapacitySteps(ctx, base, s, func(ctx context.Context, st CapacityStepRun) (*Result, error) {
		cfg.Rate, cfg.RunID = st.Rate, st.RunID
		r, err := New(cfg)
		if err != nil {
			return nil, err
		}
		return r.Run(ctx)
	})
}

// CapacityStepRun is a step a capacity search asks its step function to
// run: one arrival-rate run, with its own warmup and measured window, at
// Rate.
type CapacityStepRun struct {
	// Index is the step's number, from 1 (the N of RunID's ".step-N").
	Index int
	// Kind is the step's CapacityStep.Kind: "coarse", "bisect" or
	// "confirm".
	Kind string
	// Rate is the arrival rate to offer, in operations per second (over
	// the whole fleet, for a step that runs on several processes).
	Rate float64
	// RunID is the step's run id: CapacityStepRunID of the search's base
	// and Index.
	RunID string
	// Thresholds are the conditions the step is judged on, as thresholds
	// (Config.Thresholds), for the step's Runs to report with their
	// result. The verdict checks them on the Result the step function
	// returns, whatever its Thresholds say: a merged result is judged on
	// its merged figures.
	Thresholds []string
}

// CapacityStepFunc runs one step of a capacity search and returns its
// result: a Result of a Run in this process, or of several processes'
// Runs merged (MergeWith, LiveMerge.Finish). An error ends the search.
type CapacityStepFunc func(ctx context.Context, step CapacityStepRun) (*Result, error)

// CapacityStepRunID is the run id of step n (from 1) of the search whose
// run id is base.
func CapacityStepRunID(base string, n int) string { return base + ".step-" + strconv.Itoa(n) }

// SearchCapacitySteps searches, as SearchCapacity does, for the highest
// rate whose step passes, with run running each step: it chooses the
// rates, judges each step on the Result run returns (a pass holds the
// conditions, checked on that Result, and is not overloaded) and returns
// what it found. base names the steps' run ids
// (CapacityStepRunID). s.Start defaults to DefaultCapacityStart and s.SLO
// to none. The error is a configuration error of s, or run's error for a
// step, with what was found up to then.
func SearchCapacitySteps(ctx context.Context, base string, s CapacitySearch, run CapacityStepFunc) (*Capacity, error) {
	s, conds, err := s.withDefaults()
	if err != nil {
		return nil, err
	}
	parsed := make([]Threshold, len(conds))
	for i, c := range conds {
		if parsed[i], err = ParseThreshold(c); err != nil {
			return nil, &ConfigError{Field: "CapacitySearch.SLO", Reason: err.Error()}
		}
	}

	c := &Capacity{Knee: -1, Conditions: slices.Concat(conds, []string{"overloaded=false"})}
	start := time.Now()
	var longest time.Duration
	var step func(kind string, rate float64) (bool, error)
	step = func(kind string, rate float64) (bool, error) {
		if s.Budget > 0 && time.Since(start)+longest > s.Budget {
			c.Ended = "budget"
			return false, errStop
		}
		n := len(c.Steps) + 1
		t0 := time.Now()
		res, err := run(ctx, CapacityStepRun{Index: n, Kind: kind, Rate: rate, RunID: CapacityStepRunID(base, n), Thresholds: slices.Clone(conds)})
		if err == nil && res == nil {
			err = errors.New("no result")
		}
		if err != nil {
			c.Ended = "error"
			if ctx.Err() != nil {
				c.Ended = "cancelled"
			}
			return false, fmt.Errorf("loadtest: capacity step %d at %v/s: %w", n, rate, err)
		}
		st := judge(kind, rate, res, parsed)
		st.Elapsed = time.Since(t0)
		longest = max(longest, st.Elapsed)
		c.Steps = append(c.Steps, st)
		if s.OnStep != nil {
			s.OnStep(st)
		}
		if st.Pass && rate > c.MaxRate {
			c.MaxRate, c.Knee = rate, len(c.Steps)-1
		}
		if !st.Pass && kind != "confirm" && s.Confirm && len(c.Steps) < s.MaxSteps {
			return step("confirm", rate)
		}
		if !st.Pass && (c.FirstFail == 0 || rate < c.FirstFail) {
			c.FirstFail = rate
		}
		if len(c.Steps) >= s.MaxSteps {
			c.Ended = "steps"
			return st.Pass, errStop
		}
		return st.Pass, nil
	}
	defer func() { c.Elapsed = time.Since(start) }()

	// Coarse steps up until one fails.
	rate := s.Start
	for {
		pass, err := step("coarse", rate)
		if err != nil {
			return c, stopped(err)
		}
		if !pass {
			break
		}
		rate *= s.Factor
	}
	// Bisection between the highest pass (or nothing) and the lowest fail.
	for {
		lo, hi := c.MaxRate, c.FirstFail
		if lo > 0 && hi-lo <= s.Precision*lo {
			c.Ended = "converged"
			return c, nil
		}
		if lo == 0 && hi < s.Start*s.Precision {
			// Even a small fraction of the first rate fails.
			c.Ended = "converged"
			return c, nil
		}
		if _, err := step("bisect", (lo+hi)/2); err != nil {
			return c, stopped(err)
		}
	}
}

// errStop ends a search that ran out of steps or time: not an error.
var errStop = errors.New("stop")

func stopped(err error) error {
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// withDefaults fills in s's defaults and returns the conditions a passing
// step holds, as thresholds: the SLO, MinAchieved and MaxErrorRate.
func (s CapacitySearch) withDefaults() (CapacitySearch, []string, error) {
	bad := func(field, format string, args ...any) (CapacitySearch, []string, error) {
		return s, nil, &ConfigError{Field: "CapacitySearch." + field, Reason: fmt.Sprintf(format, args...)}
	}
	num := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !num(s.Start) || s.Start < 0:
		return bad("Start", "must be a positive rate, got %v", s.Start)
	case !num(s.Factor) || (s.Factor != 0 && s.Factor <= 1):
		return bad("Factor", "must exceed 1, got %v", s.Factor)
	case !num(s.Precision) || s.Precision < 0 || s.Precision >= 1:
		return bad("Precision", "must be within [0, 1), got %v", s.Precision)
	case !num(s.MinAchieved) || s.MinAchieved < 0 || s.MinAchieved > 1:
		return bad("MinAchieved", "must be within [0, 1], got %v", s.MinAchieved)
	case !num(s.MaxErrorRate) || s.MaxErrorRate < 0 || s.MaxErrorRate > 1:
		return bad("MaxErrorRate", "must be within [0, 1], got %v", s.MaxErrorRate)
	case s.MaxSteps < 0:
		return bad("MaxSteps", "must not be negative, got %d", s.MaxSteps)
	case s.Budget < 0:
		return bad("Budget", "must not be negative, got %v", s.Budget)
	}
	if s.Start == 0 {
		s.Start = DefaultCapacityStart
	}
	if s.Factor == 0 {
		s.Factor = DefaultCapacityFactor
	}
	if s.Precision == 0 {
		s.Precision = DefaultCapacityPrecision
	}
	if s.MinAchieved == 0 {
		s.MinAchieved = DefaultMinAchieved
	}
	if s.MaxErrorRate == 0 {
		s.MaxErrorRate = DefaultMaxErrorRate
	}
	if s.MaxSteps == 0 {
		s.MaxSteps = DefaultCapacitySteps
	}
	for i, t := range s.SLO {
		if _, err := ParseThreshold(t); err != nil {
			return bad("SLO["+strconv.Itoa(i)+"]", "%v", err)
		}
	}
	conds := append(slices.Clone(s.SLO),
		"achieved_ratio>="+strconv.FormatFloat(s.MinAchieved, 'f', -1, 64),
		"error_rate<"+strconv.FormatFloat(s.MaxErrorRate, 'f', -1, 64))
	return s, conds, nil
}

// judge is the verdict of a capacity search's step of kind at rate on its
// result res (of one process, or merged): the step's figures from res's
// measured window, and whether it passed, with the conditions it did not
// hold. conds are the step's conditions, checked on res itself (not read
// from res.Thresholds, which a merged result may not hold); a step that
// is overloaded fails too.
func judge(kind string, rate float64, res *Result, conds []Threshold) CapacityStep {
	m := res.Phases.Measure
	st := CapacityStep{Kind: kind, Rate: rate, RunID: res.RunID,
		ThroughputPerS: m.Throughput, Latency: m.Latency, Ops: m.Ops, Errors: m.Errors, Pass: true}
	if m.Ops > 0 {
		st.ErrorRate = float64(m.Errors) / float64(m.Ops)
	}
	if sc := m.Schedule; sc != nil {
		st.OfferedPerS, st.AchievedRatio, st.CompletedAfter = sc.OfferedPerS, sc.AchievedRatio, sc.CompletedAfter
		st.BacklogStart, st.BacklogEnd, st.Overloaded = sc.BacklogStart, sc.BacklogEnd, sc.Overloaded
	}
	for _, t := range evaluate(conds, res) {
		if !t.OK {
			st.Pass, st.Failed = false, append(st.Failed, t.Name)
		}
	}
	if st.Overloaded {
		st.Pass, st.Failed = false, append(st.Failed, "overloaded")
	}
	return st
}

// WriteText writes the search as a table of its steps by rate, and the
// capacity found.
func (c *Capacity) WriteText(w io.Writer) error {
	f := timing.FormatDuration
	steps := slices.Clone(c.Steps)
	slices.SortStableFunc(steps, func(a, b CapacityStep) int {
		switch {
		case a.Rate < b.Rate:
			return -1
		case a.Rate > b.Rate:
			return 1
		}
		return 0
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "offered/s\tachieved/s\tachieved\tp50\tp99\terrors\tbacklog\tverdict\t")
	for _, st := range steps {
		verdict := "pass"
		if !st.Pass {
			verdict = "FAIL"
			for i, name := range st.Failed {
				sep := " "
				if i > 0 {
					sep = ", "
				}
				verdict += sep + name
			}
		}
		fmt.Fprintf(tw, "%.1f\t%.1f\t%.1f%%\t%s\t%s\t%d\t%d -> %d\t%s\t\n", st.OfferedPerS, st.ThroughputPerS,
			100*st.AchievedRatio, f(st.Latency.P50), f(st.Latency.P99), st.Errors, st.BacklogStart, st.BacklogEnd, verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case c.Knee < 0:
		fmt.Fprintf(w, "capacity: no rate passed (lowest tried %.1f/s)", c.FirstFail)
	case c.FirstFail == 0:
		fmt.Fprintf(w, "capacity: at least %.1f/s (no rate failed)", c.MaxRate)
	default:
		fmt.Fprintf(w, "capacity: %.1f/s (the highest rate that passed; %.1f/s failed)", c.MaxRate, c.FirstFail)
	}
	fmt.Fprintf(w, "; conditions: %v; %d steps in %s, ended: %s\n", c.Conditions, len(c.Steps), f(c.Elapsed), c.Ended)
	return nil
}
