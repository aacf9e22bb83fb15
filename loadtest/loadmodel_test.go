package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// stallServer is an operation whose latency the test controls: it
// normally takes base, and every call made while a stall is on waits for
// the stall's end.
type stallServer struct {
	base     time.Duration
	mu       sync.Mutex
	from, to time.Time
}

func (s *stallServer) stallAt(from time.Time, d time.Duration) {
	s.mu.Lock()
	s.from, s.to = from, from.Add(d)
	s.mu.Unlock()
}

func (s *stallServer) op(ctx context.Context, _ *loadtest.Worker) error {
	s.mu.Lock()
	from, to := s.from, s.to
	s.mu.Unlock()
	now := time.Now()
	d := s.base
	if !from.IsZero() && !now.Before(from) && now.Before(to) {
		d = to.Sub(now)
	}
	return sleep(ctx, d)
}

func run(t *testing.T, cfg loadtest.Config) *loadtest.Result {
	t.Helper()
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	return res
}

// measureIntervals returns the measure window's full intervals.
func measureIntervals(res *loadtest.Result) []loadtest.Interval {
	var out []loadtest.Interval
	for _, iv := range res.Intervals {
		if iv.Phase == timing.Measure && iv.Duration == res.Config.Interval {
			out = append(out, iv)
		}
	}
	return out
}

// TestStallArrivalRateVersusClosedLoop: a one-second stall in the middle of
// the measured window. The arrival-rate run keeps scheduling, so every
// operation scheduled during the stall waits for it and reports it in its
// latency (and as late); the closed-loop run just stops issuing, so only
// the few operations in flight see it and the stall shows as lost
// throughput instead, which is what pgbench -R users expect.
func TestStallArrivalRateVersusClosedLoop(t *testing.T) {
	const stall = time.Second
	cfgFor := func(srv *stallServer) loadtest.Config {
		cfg := baseConfig(&memPool{})
		cfg.Workers = 8
		cfg.Warmup = 0
		cfg.Duration = 3 * time.Second
		cfg.Interval = 250 * time.Millisecond
		cfg.Workload.Operations = []loadtest.Operation{{Name: "op", Weight: 1, Run: srv.op}}
		cfg.Hooks.PhaseStart = onStart(timing.Measure, func() { srv.stallAt(time.Now().Add(time.Second), stall) })
		return cfg
	}

	open := &stallServer{base: 2 * time.Millisecond}
	cfg := cfgFor(open)
	cfg.Rate = 200
	ores := run(t, cfg)
	om := ores.Phases.Measure
	assert.InDelta(t, 600, om.Ops, 3, "every scheduled operation ran: no throughput lost")
	assert.Zero(t, om.Dropped)
	assert.Greater(t, om.Late, int64(100), "operations scheduled during the stall started late")
	assert.GreaterOrEqual(t, om.Latency.Max, stall*8/10, "the stall is in the latency")
	assert.GreaterOrEqual(t, om.Latency.P99, stall/2, "and in the tail, not only in one sample")
	require.NotNil(t, om.Queue)
	assert.GreaterOrEqual(t, om.Queue.Max, stall/2, "the queueing delay shows the wait")

	closed := &stallServer{base: 2 * time.Millisecond}
	cres := run(t, cfgFor(closed))
	cm := cres.Phases.Measure
	assert.Zero(t, cm.Late, "a closed loop has no schedule to be late for")
	assert.Less(t, cm.Latency.P99*5, om.Latency.P99, "closed loop hides the stall from the percentiles")
	ivs := measureIntervals(cres)
	require.GreaterOrEqual(t, len(ivs), 8)
	lo, hi := ivs[0].Ops, ivs[0].Ops
	for _, iv := range ivs {
		lo, hi = min(lo, iv.Ops), max(hi, iv.Ops)
	}
	assert.Less(t, lo*4, hi, "the stall shows as lost throughput in the closed loop's intervals (min %d, max %d)", lo, hi)
	oivs := measureIntervals(ores)
	var olo int64 = 1 << 62
	for _, iv := range oivs {
		olo = min(olo, iv.Ops)
	}
	assert.Less(t, olo, int64(10), "the arrival-rate intervals during the stall end nothing either")
}

// TestArrivalRatePhaseBoundary: operations are slower than the schedule,
// so a queue builds and many operations scheduled in the warmup start in
// the measured window; each still belongs to the phase it was scheduled in,
// so the counts are exactly the schedule's.
func TestArrivalRatePhaseBoundary(t *testing.T) {
	var measureStart atomic.Int64
	var warmupStartedLate atomic.Int64
	cfg := baseConfig(&memPool{})
	cfg.Workers = 2
	cfg.Rate = 100
	cfg.Warmup = 500 * time.Millisecond
	cfg.Duration = time.Second
	cfg.Interval = 100 * time.Millisecond
	// The warmup starts at the start instant, a little before its hook
	// runs: this estimate of the measure start is late, never early.
	cfg.Hooks.PhaseStart = onStart(timing.Warmup, func() {
		measureStart.Store(time.Now().Add(cfg.Warmup).UnixNano())
	})
	cfg.Workload.Operations = []loadtest.Operation{{Name: "op", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
		if m := measureStart.Load(); m != 0 && w.Phase() == timing.Warmup && time.Now().UnixNano() > m {
			warmupStartedLate.Add(1)
		}
		return sleep(ctx, 30*time.Millisecond) // 2 workers: ~66/s, below the rate
	}}}
	res := run(t, cfg)
	assert.EqualValues(t, 50, res.Phases.Warmup.Ops, "scheduled in the warmup: 0.5s at 100/s")
	assert.EqualValues(t, 100, res.Phases.Measure.Ops, "scheduled in the measured window: 1s at 100/s")
	assert.Greater(t, warmupStartedLate.Load(), int64(0), "some warmup operations started after the measure start")
	assert.Greater(t, res.Phases.Measure.Late, int64(50))
	assert.Equal(t, loadtest.EndedByDuration, res.Phases.Warmup.EndedBy)
}

func TestArrivalRateDropsBeyondTheInFlightBound(t *testing.T) {
	cfg := baseConfig(&memPool{})
	cfg.Workers = 1
	cfg.Rate = 1000
	cfg.MaxInFlight = 5
	cfg.Warmup = 0
	cfg.Duration = 500 * time.Millisecond
	cfg.Workload.Operations = []loadtest.Operation{{Name: "op", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
		return sleep(ctx, 10*time.Millisecond)
	}}}
	res := run(t, cfg)
	m := res.Phases.Measure
	assert.Greater(t, m.Dropped, int64(300), "far more was scheduled than one worker can do")
	assert.InDelta(t, 500, m.Ops+m.Dropped, 2, "every scheduled operation either ran or was dropped")
	assert.LessOrEqual(t, m.Ops, int64(100))
	var ivDropped int64
	for _, iv := range res.Intervals {
		ivDropped += iv.Dropped
	}
	assert.Equal(t, m.Dropped, ivDropped, "the intervals count the drops too")
}

// TestPoissonArrivalsKeepTheRate: a Poisson schedule with a fixed seed
// runs exactly the operations it scheduled, however late a loaded machine
// runs them: the count comes from the schedule, not the clock. The
// schedule itself keeps the rate (a Poisson count of mean 2000 over 1s,
// within 10% for this seed).
func TestPoissonArrivalsKeepTheRate(t *testing.T) {
	const seed = 42
	cfg := baseConfig(&memPool{})
	cfg.Rate = 2000
	cfg.Arrival = loadtest.ArrivalPoisson
	cfg.Warmup = 0
	cfg.Duration = time.Second
	cfg.Seed = seed
	res := run(t, cfg)
	want := loadtest.ScheduledIn(seed, true, 2000, time.Second)
	assert.InEpsilon(t, 2000, want, 0.1, "the schedule of a Poisson process of 2000/s over 1s")
	m := res.Phases.Measure
	assert.Equal(t, want, m.Ops+m.Dropped, "every scheduled operation ran or was dropped")
	assert.Equal(t, "poisson", res.Config.Arrival)
	assert.Equal(t, uint64(seed), res.Config.Seed)
	assert.NotEqual(t, loadtest.ScheduledIn(seed, false, 2000, time.Second), want, "not the constant schedule")
	assert.Equal(t, int64(2000), loadtest.ScheduledIn(seed, false, 2000, time.Second))
}

// TestSteadyWarmupEndsWhenSettled: the workload is slow at first and gets
// fast within about a second; the warmup ends once it has settled, well
// before its maximum.
func TestSteadyWarmupEndsWhenSettled(t *testing.T) {
	var t0 atomic.Int64
	cfg := baseConfig(&memPool{})
	cfg.Warmup = 0
	cfg.Duration = 300 * time.Millisecond
	cfg.Interval = 200 * time.Millisecond
	cfg.Steady = &loadtest.Steady{Tolerance: 0.5, Intervals: 3, Max: 30 * time.Second}
	cfg.Hooks.StartSignal = storeStart(&t0)
	cfg.Workload.Operations = []loadtest.Operation{{Name: "op", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
		el := time.Duration(time.Now().UnixNano() - t0.Load())
		extra := 40 * time.Millisecond
		for range int(el / (100 * time.Millisecond)) { // a quarter every 100ms
			extra /= 4
		}
		return sleep(ctx, 2*time.Millisecond+extra)
	}}}
	res := run(t, cfg)
	w := res.Phases.Warmup
	assert.Equal(t, loadtest.EndedBySteady, w.EndedBy)
	assert.GreaterOrEqual(t, w.Examined, 3)
	assert.GreaterOrEqual(t, w.Duration, 600*time.Millisecond, "not steady while it was still getting faster")
	assert.Less(t, w.Duration, 30*time.Second)
	assert.Equal(t, 300*time.Millisecond, res.Phases.Measure.Duration)
	assert.Less(t, res.Phases.Measure.Latency.P50, w.Latency.Max, "the slow start stayed in the warmup")
	warm := res.Timeline.Find(timing.Warmup)
	require.Len(t, warm, 1)
	assert.Equal(t, w.Duration, warm[0].Duration())
}

// storeStart returns a StartSignal hook that stores the start instant, in
// Unix nanoseconds, in t0: the warmup begins there, and the hook runs
// before any operation does (the warmup's PhaseStart hook may run after
// the first ones), so operations can time themselves from it.
func storeStart(t0 *atomic.Int64) func(loadtest.StartSignalInfo) {
	return func(i loadtest.StartSignalInfo) { t0.Store(i.At.UnixNano()) }
}

// TestSteadyWarmupStopsAtMax: a workload that slows down every interval
// never settles; the warmup ends at its maximum and says so.
func TestSteadyWarmupStopsAtMax(t *testing.T) {
	var t0 atomic.Int64
	cfg := baseConfig(&memPool{})
	cfg.Warmup = 0
	cfg.Duration = 200 * time.Millisecond
	cfg.Interval = 200 * time.Millisecond
	cfg.Steady = &loadtest.Steady{Tolerance: 0.2, Intervals: 3, Max: 1200 * time.Millisecond}
	cfg.Hooks.StartSignal = storeStart(&t0)
	cfg.Workload.Operations = []loadtest.Operation{{Name: "op", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
		d := time.Millisecond
		for range int(time.Duration(time.Now().UnixNano()-t0.Load()) / (200 * time.Millisecond)) {
			d = d * 8 / 5
		}
		return sleep(ctx, d)
	}}}
	res := run(t, cfg)
	w := res.Phases.Warmup
	assert.Equal(t, loadtest.EndedByMax, w.EndedBy)
	assert.Equal(t, 1200*time.Millisecond, w.Duration)
	assert.GreaterOrEqual(t, w.Examined, 3)
	assert.Greater(t, res.Phases.Measure.Ops, int64(0))
}

// runUntilMeasured runs cfg until each operation named in want has run at
// least that many times in the measured window, then stops it (a Local
// coordinator's stop event): the window lasts as long as a loaded machine
// needs to measure enough, so that what the test asserts of the
// statistics does not depend on the machine's speed. cfg.Duration is made
// an hour, the bound of the window.
func runUntilMeasured(t *testing.T, cfg loadtest.Config, want map[string]int64) *loadtest.Result {
	t.Helper()
	local := coordinate.NewLocal(coordinate.LocalOptions{})
	cfg.Coordinator = local
	cfg.Duration = time.Hour
	counts := map[string]*atomic.Int64{}
	for name := range want {
		counts[name] = new(atomic.Int64)
	}
	var once sync.Once
	enough := func() bool {
		for name, n := range want {
			if counts[name].Load() < n {
				return false
			}
		}
		return true
	}
	ops := make([]loadtest.Operation, len(cfg.Workload.Operations))
	for i, op := range cfg.Workload.Operations {
		inner, c := op.Run, counts[op.Name]
		op.Run = func(ctx context.Context, w *loadtest.Worker) error {
			err := inner(ctx, w)
			if c != nil && w.Phase() == timing.Measure {
				c.Add(1)
				if enough() {
					once.Do(func() {
						go func() {
							_, _ = local.Send(context.Background(), coordinate.Event{Kind: coordinate.EventStop, Reason: "measured enough"})
						}()
					})
				}
			}
			return err
		}
		ops[i] = op
	}
	cfg.Workload.Operations = ops
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	go func() { _, _ = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: 1}, 0) }()
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, "stop: measured enough", res.Stopped)
	return res
}

func TestThresholds(t *testing.T) {
	cfg := baseConfig(&memPool{})
	var n atomic.Int64
	cfg.Workload.Operations = []loadtest.Operation{
		{Name: "fast", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error { return sleep(ctx, time.Millisecond) }},
		{Name: "flaky", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
			if n.Add(1)%2 == 0 {
				return errors.New("flaky")
			}
			return nil
		}},
	}
	cfg.Thresholds = []string{"p99<10s", "p50<1ns", "fast:error_rate<0.01", "flaky:error_rate<0.01",
		"throughput>1", "throughput>1e12", "fast:p50>=1ms", "max<=1h"}
	res := runUntilMeasured(t, cfg, map[string]int64{"fast": 20, "flaky": 400})
	require.Len(t, res.Thresholds, 8)
	byName := map[string]loadtest.ThresholdResult{}
	for _, th := range res.Thresholds {
		byName[th.Name] = th
	}
	ok := func(name string) bool { return byName[name].OK }
	assert.True(t, ok("p99<10s"))
	assert.False(t, ok("p50<1ns"))
	assert.True(t, ok("fast:error_rate<0.01"))
	assert.False(t, ok("flaky:error_rate<0.01"))
	assert.InDelta(t, 0.5, byName["flaky:error_rate<0.01"].Value, 0.05)
	assert.True(t, ok("throughput>1"))
	assert.False(t, ok("throughput>1e12"))
	assert.True(t, ok("fast:p50>=1ms"))
	assert.True(t, ok("max<=1h"))
	assert.EqualValues(t, time.Millisecond, byName["fast:p50>=1ms"].Limit)
	assert.GreaterOrEqual(t, byName["fast:p50>=1ms"].Value, float64(time.Millisecond))
	assert.Equal(t, res.Phases.Measure.Throughput, byName["throughput>1"].Value)
	failed := res.FailedThresholds()
	require.Len(t, failed, 3)
	assert.Equal(t, "p50<1ns", failed[0].Name)
}

func TestParseThreshold(t *testing.T) {
	th, err := loadtest.ParseThreshold("point_select:p99<20ms")
	require.NoError(t, err)
	assert.Equal(t, loadtest.Threshold{Name: "point_select:p99<20ms", Operation: "point_select", Metric: "p99", Op: "<", Limit: float64(20 * time.Millisecond)}, th)
	th, err = loadtest.ParseThreshold("throughput >= 1000")
	require.NoError(t, err)
	assert.Equal(t, ">=", th.Op)
	assert.InDelta(t, 1000, th.Limit, 0)
	for _, bad := range []string{"p98<1ms", "p99<fast", "error_rate<x", "p99", ":p99<1ms", ""} {
		_, err := loadtest.ParseThreshold(bad)
		assert.Error(t, err, bad)
	}
}

func scaleMarks(res *loadtest.Result) []timing.Mark {
	var out []timing.Mark
	for _, m := range res.Timeline.Marks {
		if m.Phase == timing.Scale {
			out = append(out, m)
		}
	}
	return out
}

// TestStagesClosedLoop: hold 1 worker, ramp to 4, hold 4. The extra
// workers stay parked until a stage admits them, and run once admitted.
// The last hold ends when every worker has run a few operations (the
// orchestrator stops the run), so that a loaded machine, slow to schedule
// the admitted workers, makes the run longer instead of failing it.
func TestStagesClosedLoop(t *testing.T) {
	p := &memPool{}
	local := coordinate.NewLocal(coordinate.LocalOptions{})
	cfg := baseConfig(p)
	cfg.Coordinator = local
	cfg.Workers = 1
	cfg.Warmup = 0
	cfg.Duration = 300*time.Millisecond + time.Hour
	cfg.Interval = 50 * time.Millisecond
	cfg.Stages = []loadtest.Stage{
		{Duration: 200 * time.Millisecond, Target: 1},
		{Duration: 100 * time.Millisecond, Target: 4},
		{Duration: time.Hour, Target: 4},
	}
	var ran [4]atomic.Int64
	var firstAt [4]atomic.Int64 // each worker's first operation, as an offset on the run's timeline
	var once sync.Once
	// The run's timeline, read at pool.init: an operation's offset on it is
	// at most baseAt + time.Since(baseT) (the hook ran after the offset
	// was read), so an offset compared with ">=" errs on the safe side.
	var baseAt time.Duration
	var baseT time.Time
	cfg.Hooks.PhaseStart = func(i loadtest.PhaseStartInfo) {
		if i.Phase == timing.PoolInit {
			baseAt, baseT = i.At, time.Now()
		}
	}
	cfg.Workload.Operations = []loadtest.Operation{{Name: "op", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
		firstAt[w.ID()].CompareAndSwap(0, int64(baseAt+time.Since(baseT)))
		ran[w.ID()].Add(1)
		all := true
		for i := range ran {
			all = all && ran[i].Load() >= 5
		}
		if all {
			once.Do(func() {
				go func() {
					_, _ = local.Send(context.Background(), coordinate.Event{Kind: coordinate.EventStop, Reason: "every worker ran"})
				}()
			})
		}
		return sleep(ctx, 2*time.Millisecond)
	}}}
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	go func() { _, _ = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: 1}, 0) }()
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "stop: every worker ran", res.Stopped)

	marks := scaleMarks(res)
	var details []string
	for _, m := range marks {
		details = append(details, m.Detail)
	}
	assert.Equal(t, []string{"target=3 stage=1", "target=4 stage=2"}, details, "one mark per change, at 250ms and 300ms")
	require.Len(t, marks, 2)
	// Each worker's first operation comes after the stage that admitted it.
	firsts := res.Timeline.Find(timing.QueryFirst)
	require.Len(t, firsts, 1, "only worker 0 starts at the gate")
	assert.Less(t, firsts[0].Start, marks[0].Start, "worker 0 runs from the start")
	for w := 1; w < 4; w++ {
		require.Positive(t, ran[w].Load(), "worker %d ran", w)
		admitted := marks[0]
		if w == 3 {
			admitted = marks[1]
		}
		assert.GreaterOrEqual(t, time.Duration(firstAt[w].Load()), admitted.Start, "worker %d parked until %s", w, admitted.Detail)
	}

	ivs := measureIntervals(res)
	require.GreaterOrEqual(t, len(ivs), 6, "4 intervals at 1 worker, 2 of the ramp")
	measure := res.Timeline.Find(timing.Measure)[0].Start
	for _, iv := range ivs {
		switch at := iv.Start - measure; {
		case at < 200*time.Millisecond:
			assert.InDelta(t, 1, iv.Target, 0)
		case at >= 300*time.Millisecond:
			assert.InDelta(t, 4, iv.Target, 0)
		}
	}
	assert.Equal(t, 0, p.openSessions())
}

func TestStagesArrivalRate(t *testing.T) {
	cfg := baseConfig(&memPool{})
	cfg.Rate = 100
	cfg.Warmup = 0
	cfg.Duration = 800 * time.Millisecond
	cfg.Interval = 100 * time.Millisecond
	cfg.Stages = []loadtest.Stage{{Duration: 400 * time.Millisecond, Target: 400}, {Duration: 400 * time.Millisecond, Target: 400}}
	res := run(t, cfg)
	marks := scaleMarks(res)
	require.Len(t, marks, 4, "rate 175, 250, 325, 400")
	assert.Equal(t, "rate=175 stage=0", marks[0].Detail)
	assert.Equal(t, "rate=400 stage=1", marks[3].Detail)
	// Planned: 0.1s at each of 100, 175, 250, 325, then 0.4s at 400, so
	// 245 operations. On a busy machine a change may come late: the
	// schedule follows each from when it was made, however late the
	// pacer learns of it, so its count is the one the marks say, to
	// within a start per change.
	meas := res.Timeline.Find(timing.Measure)[0]
	want, rate, from := 0.0, 100.0, meas.Start
	for _, m := range marks {
		at := min(m.Start, meas.End) // a change made after the window
		want += rate * (at - from).Seconds()
		from = at
		_, err := fmt.Sscanf(m.Detail, "rate=%g", &rate)
		require.NoError(t, err)
	}
	want += rate * (meas.End - from).Seconds()
	require.NotNil(t, res.Phases.Measure.Schedule)
	assert.InDelta(t, want, res.Phases.Measure.Offered, float64(len(marks)+1), "planned 245")
}

func TestScaleEventChangesTheRate(t *testing.T) {
	local := coordinate.NewLocal(coordinate.LocalOptions{})
	cfg := baseConfig(&memPool{})
	cfg.Coordinator = local
	cfg.Rate = 100
	cfg.Warmup = 0
	cfg.Duration = time.Second
	cfg.Interval = 100 * time.Millisecond
	cfg.Hooks.PhaseStart = onStart(timing.Measure, func() {
		go func() {
			_, _ = local.Send(context.Background(), coordinate.Event{Kind: coordinate.EventScale, Concurrency: 500})
		}()
	})
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	go func() { _, _ = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: 1}, 0) }()
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	marks := scaleMarks(res)
	require.Len(t, marks, 1)
	assert.Equal(t, "rate=500", marks[0].Detail)
	// 100/s until the event, 500/s after it.
	at := marks[0].Start - res.Timeline.Find(timing.Measure)[0].Start
	want := 100*at.Seconds() + 500*(1-at.Seconds())
	assert.InEpsilon(t, want, res.Phases.Measure.Ops, 0.1, "event after %v", at)
	ivs := measureIntervals(res)
	require.NotEmpty(t, ivs)
	assert.InDelta(t, 500, ivs[len(ivs)-1].Target, 0)
}

// TestIntervalsAddUpToThePhases: the interval series is lossless: summed,
// it gives the phase totals, and each full interval has the configured
// length and its phase's window.
func TestIntervalsAddUpToThePhases(t *testing.T) {
	var hooked []loadtest.Interval
	cfg := baseConfig(&memPool{})
	cfg.Warmup = 120 * time.Millisecond
	cfg.Duration = 200 * time.Millisecond
	cfg.Interval = 50 * time.Millisecond
	cfg.Workload.Operations = []loadtest.Operation{
		{Name: "a", Weight: 3, Run: func(ctx context.Context, w *loadtest.Worker) error { return sleep(ctx, 100*time.Microsecond) }},
		{Name: "b", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error { return errors.New("b fails") }},
	}
	cfg.Hooks.Interval = func(iv loadtest.Interval) { hooked = append(hooked, iv) }
	res := run(t, cfg)
	assert.Equal(t, res.Intervals, hooked, "the hook saw every interval")
	var ops, errs [2]int64
	var opA int64
	for _, iv := range res.Intervals {
		ph := 0
		if iv.Phase == timing.Measure {
			ph = 1
			opA += iv.Operations["a"].Ops
		}
		ops[ph] += iv.Ops
		errs[ph] += iv.Errors
		assert.LessOrEqual(t, iv.Duration, cfg.Interval)
	}
	assert.Equal(t, res.Phases.Warmup.Ops, ops[0])
	assert.Equal(t, res.Phases.Measure.Ops, ops[1])
	assert.Equal(t, res.Phases.Measure.Errors, errs[1])
	assert.Equal(t, res.Operations["a"].Ops, opA)
	assert.Greater(t, res.Phases.Measure.Errors, int64(0))
	// Warmup: 50, 50, 20; measure: 4 x 50. (The operations that started
	// in the warmup and ended in the first measured interval make an entry
	// of their own, in the measured window.)
	meas := res.Timeline.Find(timing.Measure)
	require.Len(t, meas, 1)
	var warmFull, measFull int
	for _, iv := range res.Intervals {
		if iv.Duration == cfg.Interval {
			if iv.Start < meas[0].Start {
				assert.Equal(t, timing.Warmup, iv.Phase)
				warmFull++
			} else if iv.Phase == timing.Measure {
				measFull++
			}
		}
	}
	assert.Equal(t, 2, warmFull)
	assert.Equal(t, 4, measFull)
}

func TestLoadModelJSONContract(t *testing.T) {
	cfg := baseConfig(&memPool{})
	cfg.Rate = 500
	cfg.Interval = 50 * time.Millisecond
	cfg.Thresholds = []string{"p99<1s"}
	res := run(t, cfg)
	var buf bytes.Buffer
	require.NoError(t, loadtest.JSONSink{W: &buf}.Write(context.Background(), res))
	var doc struct {
		Intervals []map[string]any `json:"intervals"`
		Phases    map[string]map[string]any
		Thresh    []map[string]any `json:"thresholds"`
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
	require.NotEmpty(t, doc.Intervals)
	for _, k := range []string{"start_ns", "phase", "ops", "errors", "latency_ns"} {
		assert.Contains(t, doc.Intervals[0], k)
	}
	assert.Contains(t, doc.Intervals[0]["latency_ns"], "p99")
	assert.Equal(t, "duration", doc.Phases["warmup"]["ended_by"])
	for _, ph := range []string{"warmup", "measure"} {
		assert.Contains(t, doc.Phases[ph], "late")
		assert.Contains(t, doc.Phases[ph], "dropped")
	}
	require.Len(t, doc.Thresh, 1)
	for _, k := range []string{"name", "ok", "value", "limit"} {
		assert.Contains(t, doc.Thresh[0], k)
	}
	assert.Equal(t, true, doc.Thresh[0]["ok"])
}

func TestLoadModelRejectsBadInput(t *testing.T) {
	tests := []struct {
		field  string
		mutate func(c *loadtest.Config)
	}{
		{"Rate", func(c *loadtest.Config) { c.Rate = -5 }},
		{"Rate", func(c *loadtest.Config) { c.Arrival = loadtest.ArrivalConstant }},
		{"Rate", func(c *loadtest.Config) { c.Arrival = loadtest.ArrivalPoisson; c.Rate = 0 }},
		{"Arrival", func(c *loadtest.Config) { c.Arrival = 9 }},
		{"MaxInFlight", func(c *loadtest.Config) { c.Rate = 10; c.MaxInFlight = -1 }},
		{"MaxInFlight", func(c *loadtest.Config) { c.MaxInFlight = 10 }},
		{"LateAfter", func(c *loadtest.Config) { c.Rate = 10; c.LateAfter = -1 }},
		{"Interval", func(c *loadtest.Config) { c.Interval = -time.Second }},
		{"Interval", func(c *loadtest.Config) { c.Interval = time.Microsecond }},
		{"Stages", func(c *loadtest.Config) {
			c.Stages = []loadtest.Stage{{Duration: 50 * time.Millisecond, Target: 2}} // 50ms of 150ms
		}},
		{"Stages", func(c *loadtest.Config) {
			c.Steady = &loadtest.Steady{}
			c.Warmup = 0
			c.Stages = []loadtest.Stage{{Duration: 150 * time.Millisecond, Target: 2}} // steady: must be Duration
		}},
		{"Stages[1].Duration", func(c *loadtest.Config) {
			c.Stages = []loadtest.Stage{{Duration: 150 * time.Millisecond, Target: 2}, {Duration: 0, Target: 1}}
		}},
		{"Stages[0].Target", func(c *loadtest.Config) {
			c.Stages = []loadtest.Stage{{Duration: 150 * time.Millisecond, Target: -1}}
		}},
		{"Warmup", func(c *loadtest.Config) { c.Steady = &loadtest.Steady{} }},
		{"Steady.Tolerance", func(c *loadtest.Config) { c.Warmup = 0; c.Steady = &loadtest.Steady{Tolerance: -1} }},
		{"Steady.Intervals", func(c *loadtest.Config) { c.Warmup = 0; c.Steady = &loadtest.Steady{Intervals: 1} }},
		{"Steady.Max", func(c *loadtest.Config) { c.Warmup = 0; c.Steady = &loadtest.Steady{Max: time.Second} }},
		{"Thresholds[1]", func(c *loadtest.Config) { c.Thresholds = []string{"p99<1s", "p42<1s"} }},
		{"Thresholds[0]", func(c *loadtest.Config) { c.Thresholds = []string{"nosuchop:p99<1s"} }},
		{"Thresholds[0]", func(c *loadtest.Config) { c.Thresholds = []string{"p99<soon"} }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			cfg := baseConfig(&memPool{})
			tt.mutate(&cfg)
			r, err := loadtest.New(cfg)
			require.Error(t, err)
			assert.Nil(t, r)
			assert.ErrorIs(t, err, loadtest.ErrInvalidConfig)
			var ce *loadtest.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.field, ce.Field, err.Error())
			assert.Contains(t, err.Error(), tt.field)
		})
	}
	t.Run("unknown metric is named", func(t *testing.T) {
		cfg := baseConfig(&memPool{})
		cfg.Thresholds = []string{"latency<1s"}
		_, err := loadtest.New(cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `unknown metric "latency"`)
	})
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	cfg := baseConfig(&memPool{})
	cfg.Interval = 50 * time.Millisecond
	cfg.Hooks = loadtest.Progress(&buf)
	res := run(t, cfg)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	assert.Len(t, lines, len(res.Intervals), "one line per interval when not on a terminal")
	assert.NotContains(t, buf.String(), "\r", "no redrawing off a terminal")
	last := lines[len(lines)-1]
	for _, want := range []string{"measure", "ops/s", "p99", "errors 0", "/100ms"} {
		assert.Contains(t, last, want)
	}
	assert.Contains(t, lines[0], "warmup")
}

// TestMemoryFlatOverRunLength: the live heap after the first interval does
// not grow with the run's length: a run three times as long ends with the
// same heap, give or take what its longer interval series holds.
func TestMemoryFlatOverRunLength(t *testing.T) {
	growth := func(d time.Duration) int64 {
		first, last := heapOverRun(t, d, 100*time.Millisecond)
		return int64(last) - int64(first)
	}
	short, long := growth(time.Second), growth(3*time.Second)
	t.Logf("heap growth: %d B over 1s, %d B over 3s", short, long)
	assert.Less(t, short, int64(1<<20), "heap growth over 1s")
	assert.Less(t, long, int64(1<<20), "heap growth over 3s")
	assert.Less(t, long-short, int64(512<<10), "growth over 3s (%d B) vs 1s (%d B)", long, short)
}

// TestIntervalHandOverUnderStress: many hand-overs (1ms intervals) while
// 8 workers run flat out; under -race this checks that the hand-over is
// race-free, and the totals that nothing is lost.
func TestIntervalHandOverUnderStress(t *testing.T) {
	var calls atomic.Int64
	cfg := baseConfig(&memPool{})
	cfg.Workers = 8
	cfg.Warmup = 30 * time.Millisecond
	cfg.Duration = 150 * time.Millisecond
	cfg.Interval = time.Millisecond
	cfg.Workload.Operations = []loadtest.Operation{
		{Name: "a", Weight: 1, Run: func(context.Context, *loadtest.Worker) error { calls.Add(1); return nil }},
		{Name: "b", Weight: 1, Run: func(context.Context, *loadtest.Worker) error { calls.Add(1); return errors.New("b") }},
	}
	res := run(t, cfg)
	var sum int64
	for _, iv := range res.Intervals {
		sum += iv.Ops
	}
	total := res.Phases.Warmup.Ops + res.Phases.Measure.Ops
	assert.Equal(t, calls.Load(), total, "every operation counted once")
	assert.Equal(t, total, sum, "the intervals add up to the phases")
	assert.Greater(t, len(res.Intervals), 20)
}
