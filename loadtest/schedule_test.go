package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// The schedule tests run an operation that takes service (at least: a
// sleep is never short) on workers goroutines, so the system's capacity is
// at most workers/service operations per second, whatever the machine.
// Every count they check follows from the schedule (loadtest.ScheduledIn)
// and that bound; none depends on how fast the machine is.
const (
	service = 10 * time.Millisecond
	workers = 4
)

// capacity is the most operations per second the workers can complete.
var capacity = float64(workers) / service.Seconds()

func scheduleConfig(rate float64, warmup, d time.Duration) loadtest.Config {
	cfg := baseConfig(&memPool{})
	cfg.Workers = workers
	cfg.Rate = rate
	cfg.Seed = 7
	cfg.Warmup = warmup
	cfg.Duration = d
	cfg.Interval = 250 * time.Millisecond
	cfg.MaxInFlight = 100_000 // nothing dropped: every scheduled operation runs
	cfg.Drain = 30 * time.Second
	op := func(ctx context.Context, _ *loadtest.Worker) error { return sleep(ctx, service) }
	cfg.Workload.Operations = []loadtest.Operation{{Name: "a", Weight: 1, Run: op}, {Name: "b", Weight: 1, Run: op}}
	return cfg
}

// checkCounts checks what holds at any load: the window offered exactly
// what the schedule holds, each offered operation ran (none dropped), the
// throughput is what completed inside the window and never more than the
// workers can complete, and the operations split into those and the ones
// completed after, in all and per operation.
func checkCounts(t *testing.T, res *loadtest.Result, rate float64) loadtest.Stats {
	t.Helper()
	m := res.Phases.Measure
	require.NotNil(t, m.Schedule, "an arrival-rate run has a schedule")
	d := res.Config.Duration
	want := loadtest.ScheduledIn(res.Config.Seed, false, rate, d)
	assert.Equal(t, want, m.Offered, "offered: the schedule's operations in the window")
	assert.InDelta(t, float64(want)/d.Seconds(), m.OfferedPerS, 1e-9)
	assert.Zero(t, m.Dropped)
	assert.Equal(t, m.Offered, m.Ops, "every offered operation ran, in the window or after it")
	assert.Zero(t, m.Errors)
	within := m.Ops - m.CompletedAfter + m.CarriedIn
	assert.InDelta(t, float64(within)/m.Duration.Seconds(), m.Throughput, 1e-6, "throughput: completed inside the window")
	assert.LessOrEqual(t, m.Throughput, capacity*d.Seconds()/m.Duration.Seconds()+1e-9, "never above what the workers can complete")
	assert.InDelta(t, m.Throughput/m.OfferedPerS, m.AchievedRatio, 1e-9)
	assert.Equal(t, m.Histogram.Count(), m.Ops, "the latencies hold every operation, also those completed after")
	var offered, after int64
	for _, name := range []string{"a", "b"} {
		op := res.Operations[name]
		require.NotNil(t, op.Schedule, name)
		offered += op.Offered
		after += op.CompletedAfter
		assert.Equal(t, op.Offered, op.Ops, name)
		assert.Positive(t, op.Offered, name)
	}
	assert.Equal(t, m.Offered, offered, "the operations' offered add up to the phase's")
	assert.Equal(t, m.CompletedAfter, after)
	return m
}

func TestScheduleWellUnderCapacity(t *testing.T) {
	t.Parallel()
	rate, d := capacity/4, 3*time.Second
	m := checkCounts(t, run(t, scheduleConfig(rate, 0, d)), rate)
	assert.Zero(t, m.BacklogStart)
	// Whether the machine kept up is the machine's business; what follows
	// from it is the verdict's. When no operation took longer than limit
	// from its schedule, only those scheduled in the window's last limit
	// can have completed after it or be waiting at its end, fewer than
	// the tolerance allows: the run cannot be overloaded.
	const limit = 100 * time.Millisecond
	if m.Latency.Max >= limit {
		t.Logf("the machine stalled (max latency %v): the verdict is not checked", m.Latency.Max)
		return
	}
	bound := int64(rate*limit.Seconds()) + 1
	require.Less(t, float64(bound), loadtest.DefaultOverloadTolerance*float64(m.Offered))
	assert.False(t, m.Overloaded, "a quarter of capacity: %+v", m.Schedule)
	assert.LessOrEqual(t, m.BacklogEnd, bound)
	assert.LessOrEqual(t, m.CompletedAfter, bound)
}

func TestScheduleAtCapacity(t *testing.T) {
	t.Parallel()
	checkCounts(t, run(t, scheduleConfig(capacity, 0, time.Second)), capacity)
}

func TestScheduleWellOverCapacity(t *testing.T) {
	t.Parallel()
	rate := 2 * capacity
	d := time.Second
	res := run(t, scheduleConfig(rate, 0, d))
	m := checkCounts(t, res, rate)
	// At most capacity*d complete inside the window; the rest of what was
	// offered completed after it, and waited: all but what the workers
	// could begin in the window (each takes an operation at least every
	// service) had not begun at its end, however late the collector read
	// the end.
	most := int64(capacity * d.Seconds())
	assert.GreaterOrEqual(t, m.CompletedAfter, m.Offered-most)
	assert.GreaterOrEqual(t, m.BacklogEnd, m.Offered-most-workers, "the backlog at the end")
	assert.True(t, m.Overloaded)
	assert.LessOrEqual(t, m.AchievedRatio, 0.5+1e-9)
	assert.Greater(t, m.Latency.P99, d/3, "the operations completed after waited, and their latency says so")
	for _, name := range []string{"a", "b"} {
		assert.True(t, res.Operations[name].Overloaded, name)
	}

	// The intervals: offered adds up to the window's, each starts with
	// the backlog the last one ended with, the backlog grows over the
	// window, and most say they are overloaded (an interval counts the
	// completions handed over in it, which a loaded machine may shift
	// into the next).
	var offered, overloaded, full int64
	var first, last *loadtest.Load
	for _, iv := range res.Intervals {
		if iv.Phase != timing.Measure || iv.Load == nil {
			continue
		}
		offered += iv.Offered
		if first == nil {
			first = iv.Load
		} else {
			assert.Equal(t, last.BacklogEnd, iv.BacklogStart, "an interval starts with the backlog the last one ended with")
		}
		last = iv.Load
		if iv.Duration == res.Config.Interval {
			full++
			if iv.Overloaded {
				overloaded++
				assert.Contains(t, loadtest.ProgressLine(iv), "OVERLOADED")
			}
		}
	}
	require.NotNil(t, first)
	assert.Equal(t, m.Offered, offered, "the intervals' offered add up to the window's")
	assert.Greater(t, last.BacklogEnd, first.BacklogStart)
	assert.GreaterOrEqual(t, 2*overloaded, full, "%d of %d full intervals overloaded", overloaded, full)

	var text bytes.Buffer
	require.NoError(t, res.WriteText(&text))
	for _, want := range []string{"measure: offered ", "completed after the window", "measure: OVERLOADED: the system achieved",
		"pacer lag (scheduled -> released)", "queueing (released -> started)"} {
		assert.Contains(t, text.String(), want)
	}
}

// TestScheduleBacklogWhenTheCollectorIsLate: a collector held up at every
// interval (an Interval hook that takes longer than an interval, as a
// loaded machine can make the collector) reads the end of the window
// long after it, while the workers drain what was queued; the backlog at
// the end is still the one at the end, not less what began since.
func TestScheduleBacklogWhenTheCollectorIsLate(t *testing.T) {
	t.Parallel()
	rate, d := 2*capacity, time.Second
	cfg := scheduleConfig(rate, 0, d)
	cfg.Hooks.Interval = func(loadtest.Interval) { time.Sleep(400 * time.Millisecond) }
	m := checkCounts(t, run(t, cfg), rate)
	most := int64(capacity * d.Seconds())
	assert.GreaterOrEqual(t, m.BacklogEnd, m.Offered-most-workers, "the backlog at the end")
	assert.True(t, m.Overloaded)
}

// TestScheduleWarmupBacklog: an overloaded warmup leaves a backlog that the
// measured window inherits (its backlog_start), unless DrainWarmup drains
// it first, which the timeline shows as warmup.drain.
func TestScheduleWarmupBacklog(t *testing.T) {
	t.Parallel()
	rate, warmup := 2*capacity, 500*time.Millisecond
	// The warmup offers rate*warmup and can complete capacity*warmup.
	owed := loadtest.ScheduledIn(7, false, rate, warmup) - int64(capacity*warmup.Seconds())
	for _, drain := range []bool{false, true} {
		cfg := scheduleConfig(rate, warmup, 300*time.Millisecond)
		cfg.DrainWarmup = drain
		res := run(t, cfg)
		w, m := res.Phases.Warmup, res.Phases.Measure
		require.NotNil(t, w.Schedule)
		assert.Equal(t, loadtest.ScheduledIn(7, false, rate, warmup), w.Offered)
		assert.Equal(t, w.Offered, w.Ops)
		assert.Greater(t, w.BacklogEnd, owed/2, "drain=%v: the warmup's backlog at its end (read a little after it)", drain)
		drains := res.Timeline.Find(timing.WarmupDrain)
		if !drain {
			assert.Empty(t, drains)
			assert.Greater(t, m.BacklogStart, owed/2, "the measured window starts owing the warmup's backlog (read a little after its start)")
			continue
		}
		require.Len(t, drains, 1)
		d := drains[0]
		assert.Empty(t, d.Err)
		assert.True(t, strings.HasPrefix(d.Detail, "backlog="), d.Detail)
		assert.Zero(t, m.BacklogStart, "drained: the measured window owes nothing at its start")
		assert.GreaterOrEqual(t, d.End-d.Start, time.Duration(float64(owed)/capacity*float64(time.Second)),
			"draining what the warmup owed takes at least the workers' time for it")
		measure := res.Timeline.Find(timing.Measure)
		require.NotEmpty(t, measure)
		assert.GreaterOrEqual(t, measure[0].Start, d.End, "the measured window opens when the drain ends")
		assert.Equal(t, loadtest.ScheduledIn(7, false, rate, cfg.Duration), m.Offered, "the schedule restarts at the new measure start")
		assert.Equal(t, m.Offered, m.Ops)
	}
}

func TestScheduleThresholds(t *testing.T) {
	t.Parallel()
	cfg := scheduleConfig(2*capacity, 0, 500*time.Millisecond)
	cfg.Thresholds = []string{"achieved_ratio>=0.99", "backlog<10", "a:achieved_ratio>0.9", "throughput>0"}
	res := run(t, cfg)
	require.Len(t, res.Thresholds, 4)
	assert.False(t, res.Thresholds[0].OK, "%+v", res.Thresholds[0])
	assert.LessOrEqual(t, res.Thresholds[0].Value, 0.5+1e-9)
	assert.False(t, res.Thresholds[1].OK)
	assert.Greater(t, res.Thresholds[1].Value, 10.0)
	assert.False(t, res.Thresholds[2].OK)
	assert.True(t, res.Thresholds[3].OK)

	closed := baseConfig(&memPool{})
	closed.Thresholds = []string{"backlog<1"}
	_, err := loadtest.New(closed)
	require.ErrorIs(t, err, loadtest.ErrInvalidConfig)
	var ce *loadtest.ConfigError
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, "Thresholds[0]", ce.Field)
	assert.Contains(t, err.Error(), "arrival-rate runs only")
}

// TestScheduleJSONContract: the names a check reads, in phases.measure and
// in each operation; a closed-loop run has none of them.
func TestScheduleJSONContract(t *testing.T) {
	t.Parallel()
	keys := []string{"offered_per_s", "throughput_per_s", "completed_after", "backlog_start", "backlog_end", "overloaded",
		"sched_lag_ns", "queue_ns"}
	decode := func(res *loadtest.Result) map[string]any {
		b, err := json.Marshal(res)
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(b, &doc))
		again, err := loadtest.DecodeResult(bytes.NewReader(b))
		require.NoError(t, err)
		assert.Equal(t, res.Phases.Measure.Schedule, again.Phases.Measure.Schedule, "decodes to what was encoded")
		return doc
	}
	doc := decode(run(t, scheduleConfig(capacity/4, 0, 300*time.Millisecond)))
	measure := doc["phases"].(map[string]any)["measure"].(map[string]any)
	op := doc["operations"].(map[string]any)["a"].(map[string]any)
	for _, k := range keys {
		assert.Contains(t, measure, k)
		assert.Contains(t, op, k)
	}
	assert.IsType(t, false, measure["overloaded"])
	// The schedule's counts are in every interval; the pacer's lag in one
	// that began an operation (a loaded machine can leave the first empty).
	var begun map[string]any
	for _, v := range doc["intervals"].([]any) {
		iv := v.(map[string]any)
		for _, k := range []string{"offered", "offered_per_s", "backlog_start", "backlog_end", "overloaded"} {
			assert.Contains(t, iv, k)
		}
		if ops, _ := iv["ops"].(float64); ops > 0 && begun == nil {
			begun = iv
		}
	}
	require.NotNil(t, begun, "an interval with operations")
	assert.Contains(t, begun, "sched_lag_ns")

	closed := baseConfig(&memPool{})
	doc = decode(run(t, closed))
	measure = doc["phases"].(map[string]any)["measure"].(map[string]any)
	for _, k := range []string{"offered_per_s", "completed_after", "backlog_start", "backlog_end", "overloaded", "sched_lag_ns", "queue_ns"} {
		assert.NotContains(t, measure, k, "closed loop")
	}
}

// TestScheduleMerges: the schedule's counts of several processes add up
// in a merged result, which is judged again on the sums.
func TestScheduleMerges(t *testing.T) {
	t.Parallel()
	under := scheduleConfig(capacity/4, 0, 300*time.Millisecond)
	under.RunID, under.Node = "merge-schedule", "a"
	over := scheduleConfig(2*capacity, 0, 300*time.Millisecond)
	over.RunID, over.Node = "merge-schedule", "b"
	a, b := run(t, under), run(t, over)
	m, err := loadtest.Merge(a, b)
	require.NoError(t, err)
	ms := m.Phases.Measure
	require.NotNil(t, ms.Schedule)
	assert.Equal(t, a.Phases.Measure.Offered+b.Phases.Measure.Offered, ms.Offered)
	assert.Equal(t, a.Phases.Measure.CompletedAfter+b.Phases.Measure.CompletedAfter, ms.CompletedAfter)
	assert.Equal(t, a.Phases.Measure.BacklogEnd+b.Phases.Measure.BacklogEnd, ms.BacklogEnd)
	assert.True(t, ms.Overloaded, "one process did not keep up")
	assert.InDelta(t, float64(ms.Offered)/ms.Duration.Seconds(), ms.OfferedPerS, 1e-6)
	assert.Equal(t, a.Operations["a"].Offered+b.Operations["a"].Offered, m.Operations["a"].Offered)
}

// TestScheduleLiveMerge: a fleet's streamed intervals carry their load,
// added up across nodes in the fleet's intervals; thresholds on the
// schedule are checked on the merged result at the end, never live (the
// streamed intervals do not add up to the window's counts exactly), so an
// overloaded fleet is not aborted by them but fails them at the end.
func TestScheduleLiveMerge(t *testing.T) {
	t.Parallel()
	mem := new(loadtest.MemoryStream)
	local := coordinate.NewLocal(coordinate.LocalOptions{})
	nodes := []string{"n0", "n1"}
	aborted := make(chan string, 1)
	m, err := loadtest.NewLiveMerge(loadtest.LiveOptions{RunID: "live-schedule", Nodes: nodes, Interval: 100 * time.Millisecond,
		Thresholds: []string{"achieved_ratio>=0.99", "backlog<1"}, AbortOnFail: true, AbortGrace: 100 * time.Millisecond,
		OnAbort: func(r loadtest.ThresholdResult) { aborted <- r.Name }})
	require.NoError(t, err)
	fctx, stopFollow := context.WithCancel(context.Background())
	followed := make(chan error, 1)
	go func() { followed <- m.Follow(fctx, mem) }()
	results := make([]*loadtest.Result, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		cfg := scheduleConfig(2*capacity, 0, 500*time.Millisecond)
		cfg.RunID, cfg.Node, cfg.Coordinator, cfg.Stream = "live-schedule", n, local, mem
		cfg.Interval = 100 * time.Millisecond
		r, err := loadtest.New(cfg)
		require.NoError(t, err)
		wg.Go(func() { results[i], _ = r.Run(context.Background()) })
	}
	_, err = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: len(nodes)}, 20*time.Millisecond)
	require.NoError(t, err)
	wg.Wait()
	stopFollow()
	require.NoError(t, <-followed)
	select {
	case name := <-aborted:
		t.Fatalf("aborted live by %s", name)
	default:
	}
	merged, err := m.Finish(context.Background(), mem, timing.Timeline{Node: "orchestrator", Anchor: results[0].StartedAt}, results, nil)
	require.NoError(t, err)
	require.Len(t, merged.Thresholds, 2)
	assert.False(t, merged.Thresholds[0].OK, "overloaded: %+v", merged.Thresholds[0])
	assert.False(t, merged.Thresholds[1].OK)
	require.NotNil(t, merged.Phases.Measure.Schedule)
	assert.Equal(t, results[0].Phases.Measure.Offered+results[1].Phases.Measure.Offered, merged.Phases.Measure.Offered)
	var loads int
	var offered int64
	for _, iv := range merged.Intervals {
		if iv.Phase == timing.Measure && iv.Load != nil {
			loads++
			offered += iv.Offered
		}
	}
	assert.Positive(t, loads, "the fleet's intervals carry the load")
	assert.Equal(t, merged.Phases.Measure.Offered, offered, "the fleet's intervals' offered add up to the merged window's")
}
