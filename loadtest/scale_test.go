package loadtest_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// heapSampler records the peak live heap seen by the Interval hook.
type heapSampler struct{ peak, last uint64 }

func (h *heapSampler) sample(loadtest.Interval) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h.peak, h.last = max(h.peak, m.HeapAlloc), m.HeapAlloc
}

// TestTenThousandWorkers: 10,000 workers (fewer under the race detector,
// which allows 8128 goroutines) of an in-memory operation start from the
// signal, each runs, none fails, and the heap stays within bounds: the
// workers share their histograms (see stats.go) instead of holding
// 270 KB each per phase and operation.
func TestTenThousandWorkers(t *testing.T) {
	n := 10_000
	if raceEnabled {
		n = 4_000
	}
	var heap heapSampler
	cfg := baseConfig(&memPool{})
	cfg.Workers = n
	cfg.Warmup, cfg.Duration, cfg.Interval = 200*time.Millisecond, 800*time.Millisecond, 200*time.Millisecond
	// The operation yields, as one waiting on a database would: a
	// CPU-bound one would hold its core for the scheduler's 10 ms slice,
	// and 10,000 of them would take 50 s on 2 cores just to each run once.
	yield := func(context.Context, *loadtest.Worker) error { runtime.Gosched(); return nil }
	cfg.Workload.Operations = []loadtest.Operation{
		{Name: "read", Weight: 3, Run: yield},
		{Name: "write", Weight: 1, Run: yield},
	}
	cfg.Hooks.Interval = heap.sample
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)

	firsts := res.Timeline.Find(timing.QueryFirst)
	require.Len(t, firsts, n, "every worker ran")
	start := res.Timeline.Find(timing.CoordStart)
	require.Len(t, start, 1)
	for _, m := range firsts {
		require.Empty(t, m.Err)
		require.GreaterOrEqual(t, m.Start, start[0].Start, "no worker starts before the signal")
	}
	m := res.Phases.Measure
	assert.Positive(t, m.Ops)
	assert.Zero(t, m.Errors)
	assert.Zero(t, res.Phases.Warmup.Errors)
	require.NotNil(t, m.Histogram)
	assert.Equal(t, m.Ops, m.Histogram.Count(), "every latency is in the histogram")
	assert.Equal(t, m.Ops, res.Operations["read"].Ops+res.Operations["write"].Ops)
	last := firsts[0].End
	for _, f := range firsts {
		last = max(last, f.End)
	}
	t.Logf("%d workers: every first query done %s after the start instant; %d measured ops; peak live heap %d MB",
		n, timing.FormatDuration(last-start[0].Start), m.Ops, heap.peak>>20)
	// A histogram per worker would need 270 KB x 2 buffers x 2 phases x 2
	// operations = 2 MB per worker: 20 GB. Shared, the run needs a few
	// hundred MB at most, most of it the goroutines' stacks.
	assert.Less(t, heap.peak, uint64(512)<<20, "peak live heap")
}

// BenchmarkLongRunHeap reports the live heap (after a GC) at the first and
// at the last interval of a 60 s closed-loop run of 64 workers: the
// runner's memory stays flat. Its name keeps it out of the usual -bench
// 'Runner|BareLoop'; run it with -bench LongRunHeap -benchtime 1x.
func BenchmarkLongRunHeap(b *testing.B) {
	for range b.N {
		var heaps []uint64
		cfg := baseConfig(&memPool{})
		cfg.Workers, cfg.Warmup, cfg.Duration = 64, 0, 60*time.Second
		cfg.Hooks.Interval = func(loadtest.Interval) {
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			heaps = append(heaps, m.HeapAlloc)
		}
		r, err := loadtest.New(cfg)
		require.NoError(b, err)
		res, err := r.Run(context.Background())
		require.NoError(b, err)
		require.Greater(b, len(heaps), 4)
		// The first interval is collected before every buffer is in use,
		// the last after the workers stopped.
		first, last := heaps[1], heaps[len(heaps)-2]
		b.ReportMetric(float64(first), "heap-start-B")
		b.ReportMetric(float64(last), "heap-end-B")
		b.ReportMetric(float64(res.Phases.Measure.Ops)/60, "ops/s")
	}
}
