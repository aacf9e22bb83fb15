package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
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
