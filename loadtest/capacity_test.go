package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// TestSearchCapacity searches the capacity of an operation of fixed
// service time on a few workers: at most workers/service per second can
// complete, so no step may report more, no rate above that over
// MinAchieved can pass, and twice that must fail; the search steps up,
// then bisects between its last pass and its first fail.
func TestSearchCapacity(t *testing.T) {
	t.Parallel()
	const n, service = 2, 10 * time.Millisecond
	capacity := n / service.Seconds() // 200/s
	cfg := baseConfig(&memPool{})
	cfg.Workers = n
	cfg.Warmup = 100 * time.Millisecond
	cfg.Duration = 500 * time.Millisecond
	cfg.Interval = 100 * time.Millisecond
	cfg.MaxInFlight = 10_000
	cfg.Workload.Operations = []loadtest.Operation{{Name: "op", Weight: 1, Run: func(ctx context.Context, _ *loadtest.Worker) error {
		return sleep(ctx, service)
	}}}
	var seen []loadtest.CapacityStep
	c, err := loadtest.SearchCapacity(t.Context(), cfg, loadtest.CapacitySearch{
		SLO: []string{"p99<250ms"}, Start: capacity / 4, Factor: 2, Precision: 0.1, MaxSteps: 8,
		OnStep: func(s loadtest.CapacityStep) { seen = append(seen, s) },
	})
	require.NoError(t, err)
	require.NotEmpty(t, c.Steps)
	assert.Equal(t, c.Steps, seen, "OnStep saw every step")
	assert.Contains(t, []string{"converged", "steps"}, c.Ended)
	assert.LessOrEqual(t, len(c.Steps), 8)

	want := capacity / 4
	lo, hi := 0.0, 0.0
	coarse := true
	for i, s := range c.Steps {
		assert.LessOrEqual(t, s.ThroughputPerS, capacity*1.001, "step %d at %v/s", i, s.Rate)
		assert.InDelta(t, s.Rate, s.OfferedPerS, s.Rate*0.01+3, "step %d offered its rate", i)
		if s.Rate >= 2*capacity {
			assert.False(t, s.Pass, "twice the capacity cannot pass: %+v", s)
		}
		if s.Pass {
			assert.LessOrEqual(t, s.Rate, capacity/loadtest.DefaultMinAchieved, "a pass achieves 99%% of its rate: %+v", s)
			assert.Empty(t, s.Failed)
		} else {
			assert.NotEmpty(t, s.Failed)
		}
		if coarse && s.Kind == "coarse" {
			assert.InDelta(t, want, s.Rate, 1e-9, "coarse steps double")
			want *= 2
		} else {
			coarse = false
			assert.Equal(t, "bisect", s.Kind)
			assert.InDelta(t, (lo+hi)/2, s.Rate, 1e-9, "bisection between the last pass and the first fail")
		}
		if s.Pass {
			lo = max(lo, s.Rate)
		} else if hi == 0 || s.Rate < hi {
			hi = s.Rate
		}
	}
	assert.Equal(t, lo, c.MaxRate)
	assert.Equal(t, hi, c.FirstFail)
	assert.LessOrEqual(t, c.FirstFail, 2*capacity, "the coarse steps reach a failing rate")
	if c.Knee >= 0 {
		assert.Equal(t, c.MaxRate, c.Steps[c.Knee].Rate)
	}

	var text bytes.Buffer
	require.NoError(t, c.WriteText(&text))
	assert.Contains(t, text.String(), "offered/s")
	assert.Contains(t, text.String(), "capacity: ")
	t.Log("\n" + text.String())
	b, err := json.Marshal(c)
	require.NoError(t, err)
	for _, k := range []string{`"max_rate"`, `"steps"`, `"offered_per_s"`, `"throughput_per_s"`, `"latency_ns"`, `"pass"`} {
		assert.Contains(t, string(b), k)
	}
}

func TestSearchCapacityRejectsBadInput(t *testing.T) {
	cfg := baseConfig(&memPool{})
	for _, s := range []loadtest.CapacitySearch{{Factor: 1}, {Start: -1}, {Precision: 1}, {SLO: []string{"p98<1s"}}, {MaxSteps: -1}} {
		_, err := loadtest.SearchCapacity(t.Context(), cfg, s)
		assert.ErrorIs(t, err, loadtest.ErrInvalidConfig, "%+v", s)
	}
	cfg.Stages = []loadtest.Stage{{Duration: cfg.Warmup + cfg.Duration, Target: 10}}
	_, err := loadtest.SearchCapacity(t.Context(), cfg, loadtest.CapacitySearch{})
	assert.ErrorIs(t, err, loadtest.ErrInvalidConfig)
}

// TestSearchCapacityConfirm: with Confirm, a rate that fails once (here its
// operations err in that step only) runs again, and passes on the retry, so
// the coarse steps go on.
func TestSearchCapacityConfirm(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(&memPool{})
	cfg.Workers = 2
	cfg.Warmup = 50 * time.Millisecond
	cfg.Duration = time.Second
	cfg.MaxInFlight = 10_000
	var runs atomic.Int64
	cfg.Hooks.PhaseStart = onStart(timing.Warmup, func() { runs.Add(1) })
	cfg.Workload.Operations = []loadtest.Operation{{Name: "op", Weight: 1, Run: func(ctx context.Context, _ *loadtest.Worker) error {
		if runs.Load() == 2 {
			return errors.New("a stall that is not the system's")
		}
		return nil
	}}}
	// Only the errors fail a step: a loaded machine's stall must not.
	cfg.OverloadTolerance = 0.9
	c, err := loadtest.SearchCapacity(t.Context(), cfg, loadtest.CapacitySearch{Start: 50, MaxSteps: 4, Confirm: true, MinAchieved: 0.1})
	require.NoError(t, err)
	require.Len(t, c.Steps, 4, "%+v", c.Steps)
	kinds := []string{c.Steps[0].Kind, c.Steps[1].Kind, c.Steps[2].Kind, c.Steps[3].Kind}
	assert.Equal(t, []string{"coarse", "coarse", "confirm", "coarse"}, kinds, "%+v", c.Steps)
	assert.False(t, c.Steps[1].Pass)
	assert.Contains(t, c.Steps[1].Failed, "error_rate<0.001")
	assert.True(t, c.Steps[2].Pass, "the retry passed")
	assert.Equal(t, c.Steps[1].Rate, c.Steps[2].Rate)
	assert.Equal(t, 200.0, c.Steps[3].Rate, "the coarse steps went on")
	assert.Zero(t, c.FirstFail)
	assert.Equal(t, "steps", c.Ended)
}

// fixedSystem is a step function of a system that serves at most capacity
// operations per second with latency p99 below the knee and ten times it
// above: each step's Result is built by hand from the rate, so the verdicts
// and the rates the search chooses follow from it, with no clock.
type fixedSystem struct {
	capacity float64
	p99      time.Duration
	asked    []loadtest.CapacityStepRun
}

func (f *fixedSystem) step(_ context.Context, st loadtest.CapacityStepRun) (*loadtest.Result, error) {
	f.asked = append(f.asked, st)
	achieved := min(st.Rate, f.capacity)
	p99 := f.p99
	if st.Rate > f.capacity {
		p99 *= 10
	}
	ops := int64(achieved)
	res := &loadtest.Result{RunID: st.RunID}
	res.Phases.Measure = loadtest.Stats{Ops: ops, Throughput: achieved, Duration: time.Second,
		Latency: loadtest.Latency{P50: f.p99 / 2, P99: p99}}
	res.Phases.Measure.Schedule = &loadtest.Schedule{Load: loadtest.Load{
		Offered: int64(st.Rate), OfferedPerS: st.Rate, AchievedRatio: achieved / st.Rate,
		Overloaded: achieved < 0.9*st.Rate,
	}}
	// What a Runner would say of its own thresholds: wrong on purpose, so
	// that a verdict read from it rather than checked shows.
	res.Thresholds = []loadtest.ThresholdResult{{Name: "p99<20ms", OK: true}}
	return res, nil
}

// TestSearchCapacitySteps: the search chooses the rates and judges each
// step on the Result its step function returns: coarse steps double from
// Start until one fails, then bisect between the highest pass and the
// lowest fail; each step is asked for with its index, kind, run id and
// conditions.
func TestSearchCapacitySteps(t *testing.T) {
	t.Parallel()
	sys := &fixedSystem{capacity: 300, p99: 5 * time.Millisecond}
	c, err := loadtest.SearchCapacitySteps(t.Context(), "fleet", loadtest.CapacitySearch{
		SLO: []string{"p99<20ms"}, Start: 100, Factor: 2, Precision: 0.1, MaxSteps: 10,
	}, sys.step)
	require.NoError(t, err)
	var rates []float64
	var kinds []string
	var pass []bool
	for _, s := range c.Steps {
		rates, kinds, pass = append(rates, s.Rate), append(kinds, s.Kind), append(pass, s.Pass)
	}
	// 100 and 200 pass, 400 fails (p99 50ms, achieved 75%); then 300
	// passes, 350 fails, 325 fails: within 10% of 300.
	assert.Equal(t, []float64{100, 200, 400, 300, 350, 325}, rates)
	assert.Equal(t, []string{"coarse", "coarse", "coarse", "bisect", "bisect", "bisect"}, kinds)
	assert.Equal(t, []bool{true, true, false, true, false, false}, pass)
	assert.Equal(t, 300.0, c.MaxRate)
	assert.Equal(t, 3, c.Knee)
	assert.Equal(t, 325.0, c.FirstFail)
	assert.Equal(t, "converged", c.Ended)
	assert.Equal(t, []string{"p99<20ms", "achieved_ratio>=0.99", "error_rate<0.001", "overloaded=false"}, c.Conditions)
	assert.Equal(t, []string{"p99<20ms", "achieved_ratio>=0.99", "overloaded"}, c.Steps[2].Failed,
		"checked on the result, not read from its Thresholds")
	assert.Equal(t, []string{"p99<20ms", "achieved_ratio>=0.99"}, c.Steps[5].Failed, "overloaded only below 90%")

	require.Len(t, sys.asked, len(c.Steps))
	for i, st := range sys.asked {
		assert.Equal(t, i+1, st.Index)
		assert.Equal(t, c.Steps[i].Kind, st.Kind)
		assert.Equal(t, c.Steps[i].Rate, st.Rate)
		assert.Equal(t, loadtest.CapacityStepRunID("fleet", i+1), st.RunID)
		assert.Equal(t, "fleet.step-"+strconv.Itoa(i+1), c.Steps[i].RunID)
		assert.Equal(t, c.Conditions[:3], st.Thresholds)
	}
	assert.Equal(t, 300.0, c.Steps[3].OfferedPerS)
	assert.Equal(t, 300.0, c.Steps[4].ThroughputPerS)
}

// TestSearchCapacityStepsBounds: MaxSteps ends a search, Confirm reruns a
// failing rate, a step function's error ends it with the steps so far, and
// a rate that fails from the start bisects down to nothing.
func TestSearchCapacityStepsBounds(t *testing.T) {
	t.Parallel()
	sys := &fixedSystem{capacity: 1000, p99: time.Millisecond}
	c, err := loadtest.SearchCapacitySteps(t.Context(), "b", loadtest.CapacitySearch{Start: 100, MaxSteps: 3}, sys.step)
	require.NoError(t, err)
	assert.Len(t, c.Steps, 3)
	assert.Equal(t, "steps", c.Ended)
	assert.Equal(t, 400.0, c.MaxRate)
	assert.Zero(t, c.FirstFail, "no rate failed")

	sys = &fixedSystem{capacity: 150, p99: time.Millisecond}
	c, err = loadtest.SearchCapacitySteps(t.Context(), "b", loadtest.CapacitySearch{Start: 100, MaxSteps: 4, Confirm: true}, sys.step)
	require.NoError(t, err)
	require.Len(t, c.Steps, 4)
	assert.Equal(t, []string{"coarse", "coarse", "confirm", "bisect"}, []string{c.Steps[0].Kind, c.Steps[1].Kind, c.Steps[2].Kind, c.Steps[3].Kind})
	assert.Equal(t, 200.0, c.Steps[2].Rate, "the failing rate again")
	assert.Equal(t, 150.0, c.Steps[3].Rate)

	boom := errors.New("a node did not start")
	n := 0
	c, err = loadtest.SearchCapacitySteps(t.Context(), "b", loadtest.CapacitySearch{Start: 100}, func(ctx context.Context, st loadtest.CapacityStepRun) (*loadtest.Result, error) {
		if n++; n == 2 {
			return nil, boom
		}
		return sys.step(ctx, st)
	})
	require.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, "capacity step 2 at 200/s")
	assert.Len(t, c.Steps, 1)
	assert.Equal(t, "error", c.Ended)

	sys = &fixedSystem{capacity: 0.5, p99: time.Millisecond}
	c, err = loadtest.SearchCapacitySteps(t.Context(), "b", loadtest.CapacitySearch{Start: 100, Precision: 0.05}, sys.step)
	require.NoError(t, err)
	assert.Equal(t, -1, c.Knee)
	assert.Zero(t, c.MaxRate)
	assert.Less(t, c.FirstFail, 5.0)
	assert.Equal(t, "converged", c.Ended)

	_, err = loadtest.SearchCapacitySteps(t.Context(), "b", loadtest.CapacitySearch{SLO: []string{"p98<1s"}}, sys.step)
	assert.ErrorIs(t, err, loadtest.ErrInvalidConfig)
}
