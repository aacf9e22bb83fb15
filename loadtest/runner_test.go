package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/profile"
	"github.com/startline/startline/timing"
)

func noop(context.Context, *loadtest.Worker) error { return nil }

// baseConfig is a short valid run on an in-memory pool.
func baseConfig(p *memPool) loadtest.Config {
	return loadtest.Config{
		Pool:     p,
		Workers:  4,
		Warmup:   50 * time.Millisecond,
		Duration: 100 * time.Millisecond,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{{Name: "noop", Weight: 1, Run: noop}}},
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	op := loadtest.Operation{Name: "a", Weight: 1, Run: noop}
	tests := []struct {
		field  string
		mutate func(c *loadtest.Config)
	}{
		{"Pool", func(c *loadtest.Config) { c.Pool = nil }},
		{"Workers", func(c *loadtest.Config) { c.Workers = 0 }},
		{"Workers", func(c *loadtest.Config) { c.Workers = -3 }},
		{"Conns", func(c *loadtest.Config) { c.Conns = -1 }},
		{"ConnParallel", func(c *loadtest.Config) { c.ConnParallel = -1 }},
		{"Warmup", func(c *loadtest.Config) { c.Warmup = -time.Second }},
		{"Duration", func(c *loadtest.Config) { c.Duration = 0 }},
		{"Duration", func(c *loadtest.Config) { c.Duration = -time.Second }},
		{"Drain", func(c *loadtest.Config) { c.Drain = -time.Second }},
		{"MaxWorkers", func(c *loadtest.Config) { c.MaxWorkers = -1 }},
		{"RunID", func(c *loadtest.Config) { c.RunID = "bad id; drop table" }},
		{"Workload.Operations", func(c *loadtest.Config) { c.Workload.Operations = nil }},
		{"Workload.Operations", func(c *loadtest.Config) {
			c.Workload.Operations = []loadtest.Operation{{Name: "a", Run: noop}, {Name: "b", Run: noop}}
		}},
		{"Workload.Operations[1].Name", func(c *loadtest.Config) { c.Workload.Operations = []loadtest.Operation{op, op} }},
		{"Workload.Operations[0].Name", func(c *loadtest.Config) {
			c.Workload.Operations = []loadtest.Operation{{Weight: 1, Run: noop}}
		}},
		{"Workload.Operations[0].Weight", func(c *loadtest.Config) {
			c.Workload.Operations = []loadtest.Operation{{Name: "a", Weight: -1, Run: noop}}
		}},
		{"Workload.Operations[0].Run", func(c *loadtest.Config) {
			c.Workload.Operations = []loadtest.Operation{{Name: "a", Weight: 1}}
		}},
		{"Workload.Tables[0].Table", func(c *loadtest.Config) {
			c.Profiler = profile.FileProfiler{Path: "x.json"}
			c.Workload.Tables = []profile.TableSpec{{Table: "users; DROP TABLE users"}}
		}},
		{"Workload.Tables[0].Columns[1]", func(c *loadtest.Config) {
			c.Profiler = profile.FileProfiler{Path: "x.json"}
			c.Workload.Tables = []profile.TableSpec{{Table: "t", Columns: []string{"ok", "no\"pe"}}}
		}},
		{"Profiler", func(c *loadtest.Config) { c.Workload.Tables = []profile.TableSpec{{Table: "t"}} }},
		{"Sinks[0]", func(c *loadtest.Config) { c.Sinks = []loadtest.Sink{nil} }},
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
			assert.Equal(t, tt.field, ce.Field)
			assert.Contains(t, err.Error(), tt.field)
		})
	}
}

// phaseLog records the order of hook calls.
type phaseLog struct {
	mu     sync.Mutex
	events []string
}

func (l *phaseLog) add(s string) {
	l.mu.Lock()
	l.events = append(l.events, s)
	l.mu.Unlock()
}

func (l *phaseLog) hooks() loadtest.Hooks {
	return loadtest.Hooks{
		PhaseStart: func(i loadtest.PhaseStartInfo) {
			if i.Worker == timing.Process {
				l.add(string(i.Phase) + " start")
			}
		},
		PhaseDone: func(i loadtest.PhaseDoneInfo) {
			if i.Worker == timing.Process {
				l.add(string(i.Phase) + " done")
			}
		},
		StartSignal: func(loadtest.StartSignalInfo) { l.add("coord.start") },
	}
}

// onStart returns a PhaseStart hook that calls f when phase starts (for
// query.first, in each worker).
func onStart(phase timing.Phase, f func()) func(loadtest.PhaseStartInfo) {
	return func(i loadtest.PhaseStartInfo) {
		if i.Phase == phase {
			f()
		}
	}
}

// onDone returns a PhaseDone hook that calls f when phase ends.
func onDone(phase timing.Phase, f func()) func(loadtest.PhaseDoneInfo) {
	return func(i loadtest.PhaseDoneInfo) {
		if i.Phase == phase {
			f()
		}
	}
}

// recordingSink keeps what it is given.
type recordingSink struct {
	mu         sync.Mutex
	started    []loadtest.RunInfo
	results    []*loadtest.Result
	startDelay func(ctx context.Context) error
}

func (s *recordingSink) TestStart(ctx context.Context, info loadtest.RunInfo) error {
	if s.startDelay != nil {
		if err := s.startDelay(ctx); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = append(s.started, info)
	return nil
}

func (s *recordingSink) Write(ctx context.Context, res *loadtest.Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results = append(s.results, res)
	return nil
}

func TestRunGoesThroughThePhasesInOrder(t *testing.T) {
	p := &memPool{}
	local := coordinate.NewLocal(coordinate.LocalOptions{Heartbeat: 10 * time.Millisecond})
	var log phaseLog
	sink := &recordingSink{}
	cfg := baseConfig(p)
	cfg.Conns = 6
	cfg.Coordinator = local
	cfg.Sinks = []loadtest.Sink{sink}
	cfg.Hooks = log.hooks()
	cfg.Node = "n1"
	r, err := loadtest.New(cfg)
	require.NoError(t, err)

	ctx := context.Background()
	go func() { _, _ = local.StartWhenReady(ctx, coordinate.Readiness{Nodes: 1}, 20*time.Millisecond) }()
	res, err := r.Run(ctx)
	require.NoError(t, err)

	assert.Equal(t, []string{
		"pool.init start", "pool.init done",
		"coord.register start", "coord.register done",
		"scale.warmup start", "scale.warmup done",
		"heartbeat.running start", "heartbeat.running done",
		"results.test_start start", "results.test_start done",
		"coord.wait start", "coord.start", "coord.wait done",
		"warmup start", "warmup done",
		"measure start", "measure done",
		"teardown start", "teardown done",
	}, log.events)

	assert.EqualValues(t, 6, p.warmed.Load(), "connections warmed")
	assert.Equal(t, 0, p.openSessions(), "every session closed at teardown")
	byPhase := map[timing.Phase][]timing.Mark{}
	for _, m := range res.Timeline.Marks {
		byPhase[m.Phase] = append(byPhase[m.Phase], m)
		assert.LessOrEqual(t, m.Start, m.End, "mark %+v", m)
		assert.Empty(t, m.Err)
	}
	assert.Len(t, byPhase[timing.PoolConn], 6)
	assert.Len(t, byPhase[timing.QueryFirst], 4, "one first query per worker")
	require.Len(t, byPhase[timing.CoordStart], 1)
	start := byPhase[timing.CoordStart][0].Start
	for _, m := range byPhase[timing.QueryFirst] {
		assert.GreaterOrEqual(t, m.Start, start, "no worker starts before the start instant")
	}
	// Everything that can happen before the signal did.
	for _, ph := range []timing.Phase{timing.PoolInit, timing.CoordRegister, timing.HeartbeatRunning, timing.ResultsTestStart, timing.ScaleWarmup} {
		require.Len(t, byPhase[ph], 1, ph)
		assert.LessOrEqual(t, byPhase[ph][0].End, start, "%s ends before the start instant", ph)
	}
	warm, meas := byPhase[timing.Warmup][0], byPhase[timing.Measure][0]
	assert.Equal(t, warm.End, meas.Start)
	assert.Equal(t, 50*time.Millisecond, warm.Duration())
	assert.Equal(t, 100*time.Millisecond, meas.Duration())

	require.Len(t, sink.started, 1)
	require.Len(t, sink.results, 1)
	assert.Same(t, res, sink.results[0])
	assert.Equal(t, res.RunID, sink.started[0].RunID)
	assert.Greater(t, res.Phases.Measure.Ops, int64(0))
	assert.Greater(t, res.Phases.Warmup.Ops, int64(0))
	assert.Equal(t, res.Phases.Measure.Ops, res.Operations["noop"].Ops)

	st := local.Members()
	require.Len(t, st, 1)
	assert.Equal(t, "n1", st[0].ID)
	assert.Equal(t, coordinate.StatusDone, st[0].Status)
}

// stateWrites is the real in-memory backend, with the instant and content
// of every state write the kit makes on it recorded.
type stateWrites struct {
	*coordinate.Memory
	mu     sync.Mutex
	writes []stateWrite
}

type stateWrite struct {
	at    time.Time
	st    coordinate.Status
	phase string
}

func (s *stateWrites) PutNode(ctx context.Context, n coordinate.NodeRecord, w coordinate.NodeWrite) error {
	if w == coordinate.NodeState {
		s.mu.Lock()
		s.writes = append(s.writes, stateWrite{time.Now(), n.Status, n.Phase})
		s.mu.Unlock()
	}
	return s.Memory.PutNode(ctx, n, w)
}

// TestRunningIsReportedAfterTheStart: a node reports RUNNING, not at T,
// where the write would compete with the first operations, but 20 ms
// after it (runningAfter), once. The phase it reports is the window open
// then: the warmup when it lasts longer than those 20 ms, the measured
// window when there is none.
func TestRunningIsReportedAfterTheStart(t *testing.T) {
	for _, tc := range []struct {
		warmup time.Duration
		phase  timing.Phase
	}{
		{50 * time.Millisecond, timing.Warmup},
		{0, timing.Measure},
	} {
		t.Run("warmup="+tc.warmup.String(), func(t *testing.T) {
			ctx := t.Context()
			be := &stateWrites{Memory: coordinate.NewMemory()}
			opts := coordinate.Options{Heartbeat: 10 * time.Millisecond}
			client, err := coordinate.NewClient(be, opts)
			require.NoError(t, err)
			orch, err := coordinate.NewRun(ctx, be, opts)
			require.NoError(t, err)
			cfg := baseConfig(&memPool{})
			cfg.Warmup = tc.warmup
			cfg.Coordinator = client
			cfg.Node = "n1"
			at := make(chan time.Time, 1)
			cfg.Hooks.StartSignal = func(s loadtest.StartSignalInfo) { at <- s.At }
			r, err := loadtest.New(cfg)
			require.NoError(t, err)

			go func() { _, _ = orch.StartWhenReady(ctx, coordinate.Readiness{Nodes: 1}, 20*time.Millisecond) }()
			_, err = r.Run(ctx)
			require.NoError(t, err)

			start := <-at
			be.mu.Lock()
			defer be.mu.Unlock()
			var running []stateWrite
			for _, w := range be.writes {
				if w.st == coordinate.StatusRunning {
					running = append(running, w)
				}
			}
			require.Len(t, running, 1, "RUNNING reports among the state writes %v", be.writes)
			assert.GreaterOrEqual(t, running[0].at.Sub(start), 20*time.Millisecond, "RUNNING written before 20 ms past the start")
			assert.Equal(t, string(tc.phase), running[0].phase, "the phase RUNNING names")
		})
	}
}

// TestWarmupNeverReachesMeasure: every warmup operation fails and takes
// long, every measured one succeeds fast; the measure statistics must show
// none of the warmup's errors or latencies, and every operation run must be
// counted in exactly one phase.
func TestWarmupNeverReachesMeasure(t *testing.T) {
	var calls atomic.Int64
	errWarm := errors.New("warmup op")
	op := func(ctx context.Context, w *loadtest.Worker) error {
		calls.Add(1)
		if w.Phase() == timing.Warmup {
			_ = sleep(ctx, 3*time.Millisecond)
			return errWarm
		}
		return nil
	}
	cfg := baseConfig(&memPool{})
	cfg.Warmup = 100 * time.Millisecond
	cfg.Workload.Operations = []loadtest.Operation{{Name: "op", Weight: 1, Run: op}}
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)

	w, m := res.Phases.Warmup, res.Phases.Measure
	assert.Greater(t, w.Ops, int64(0))
	assert.Equal(t, w.Ops, w.Errors, "every warmup op failed")
	assert.Nil(t, w.Histogram, "no successful warmup op")
	assert.Greater(t, m.Ops, int64(0))
	assert.Zero(t, m.Errors, "no warmup error leaked into measure")
	require.NotNil(t, m.Histogram)
	assert.Equal(t, m.Ops, m.Histogram.Count())
	assert.Equal(t, calls.Load(), w.Ops+m.Ops, "every op counted exactly once")
	assert.Zero(t, res.Operations["op"].Errors)
	assert.Equal(t, w.Ops, res.WarmupOperations["op"].Errors)
}

func TestOperationsChosenByWeight(t *testing.T) {
	cfg := baseConfig(&memPool{})
	cfg.Workload.Operations = []loadtest.Operation{
		{Name: "often", Weight: 9, Run: noop},
		{Name: "rare", Weight: 1, Run: noop},
		{Name: "never", Weight: 0, Run: noop},
	}
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	often, rare := res.Operations["often"].Ops, res.Operations["rare"].Ops
	require.Greater(t, rare, int64(100))
	assert.Zero(t, res.Operations["never"].Ops)
	ratio := float64(often) / float64(rare)
	assert.InDelta(t, 9, ratio, 1.5, "often/rare = %d/%d", often, rare)
}

func TestPhaseFailureNamesThePhaseAndKeepsTheTimeline(t *testing.T) {
	boom := errors.New("boom")
	t.Run("pool.init", func(t *testing.T) {
		cfg := baseConfig(&memPool{warmErr: boom})
		r, err := loadtest.New(cfg)
		require.NoError(t, err)
		res, err := r.Run(context.Background())
		var pe *loadtest.PhaseError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, timing.PoolInit, pe.Phase)
		assert.Equal(t, timing.Process, pe.Worker)
		assert.ErrorIs(t, err, boom)
		assert.Contains(t, err.Error(), "pool.init")
		require.NotNil(t, res)
		require.NotEmpty(t, res.Timeline.Marks)
		assert.Equal(t, timing.PoolInit, res.Timeline.Marks[0].Phase)
		assert.Equal(t, "boom", res.Timeline.Marks[0].Err)
		assert.Contains(t, res.Error, "boom")
	})
	t.Run("setup.profile", func(t *testing.T) {
		cfg := baseConfig(&memPool{})
		cfg.Profiler = profile.FileProfiler{Path: t.TempDir() + "/missing.json"}
		cfg.Workload.Tables = []profile.TableSpec{{Table: "t", Key: "id"}}
		r, err := loadtest.New(cfg)
		require.NoError(t, err)
		_, err = r.Run(context.Background())
		var pe *loadtest.PhaseError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, timing.SetupProfile, pe.Phase)
	})
	t.Run("scale.warmup worker 2", func(t *testing.T) {
		p := &memPool{sessionErr: func(n int) error {
			if n == 2 {
				return boom
			}
			return nil
		}}
		r, err := loadtest.New(baseConfig(p))
		require.NoError(t, err)
		res, err := r.Run(context.Background())
		var pe *loadtest.PhaseError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, timing.ScaleWarmup, pe.Phase)
		assert.Equal(t, 2, pe.Worker)
		assert.Contains(t, err.Error(), "scale.warmup (worker 2): boom")
		assert.Equal(t, 0, p.openSessions(), "the sessions taken before the failure are closed")
		assert.Zero(t, res.Phases.Measure.Ops)
	})
	t.Run("coord.wait timeout", func(t *testing.T) {
		cfg := baseConfig(&memPool{})
		cfg.Coordinator = coordinate.NewLocal(coordinate.LocalOptions{WaitTimeout: 30 * time.Millisecond})
		r, err := loadtest.New(cfg)
		require.NoError(t, err)
		_, err = r.Run(context.Background())
		var pe *loadtest.PhaseError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, timing.CoordWait, pe.Phase)
		assert.ErrorIs(t, err, coordinate.ErrWaitTimeout)
	})
}

func TestCancelKeepsWhatWasMeasured(t *testing.T) {
	sink := &recordingSink{}
	cfg := baseConfig(&memPool{})
	cfg.Warmup = 0
	cfg.Duration = time.Hour
	cfg.Sinks = []loadtest.Sink{sink}
	cfg.Workload.Operations = []loadtest.Operation{{Name: "op", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
		return sleep(ctx, time.Millisecond)
	}}}
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Hooks.PhaseStart = onStart(timing.Measure, func() { time.AfterFunc(100*time.Millisecond, cancel) })
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, res)
	assert.Greater(t, res.Phases.Measure.Ops, int64(0))
	assert.Less(t, res.Phases.Measure.Duration, time.Hour)
	assert.Contains(t, res.Stopped, "context")
	require.Len(t, sink.results, 1, "the result reaches the sink despite the cancelled context")
}

// TestBackgroundTestStartDoesNotDelayTheFirstQuery: the sink's TestStart
// blocks until a worker's first query has ended, which only works if it
// runs in the background.
func TestBackgroundTestStartDoesNotDelayTheFirstQuery(t *testing.T) {
	firstDone := make(chan struct{})
	var once sync.Once
	sink := &recordingSink{startDelay: func(ctx context.Context) error {
		select {
		case <-firstDone:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the first query never came: TestStart blocked it")
		}
	}}
	cfg := baseConfig(&memPool{})
	cfg.Sinks = []loadtest.Sink{sink}
	cfg.BackgroundTestStart = true
	cfg.Hooks.PhaseDone = onDone(timing.QueryFirst, func() { once.Do(func() { close(firstDone) }) })
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	require.Len(t, sink.started, 1)
	var ts, first timing.Mark
	for _, m := range res.Timeline.Marks {
		switch m.Phase {
		case timing.ResultsTestStart:
			ts = m
		case timing.QueryFirst:
			if first.Phase == "" || m.End < first.End {
				first = m
			}
		}
	}
	require.Equal(t, timing.ResultsTestStart, ts.Phase, "the background span is on the timeline")
	assert.Less(t, first.End, ts.End)
}

func TestControlEvents(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		local := coordinate.NewLocal(coordinate.LocalOptions{})
		cfg := baseConfig(&memPool{})
		cfg.Coordinator = local
		cfg.Duration = time.Hour
		cfg.Hooks.PhaseStart = onStart(timing.Measure, func() {
			go func() {
				_, _ = local.Send(context.Background(), coordinate.Event{Kind: coordinate.EventStop, Reason: "enough"})
			}()
		})
		r, err := loadtest.New(cfg)
		require.NoError(t, err)
		go func() { _, _ = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: 1}, 0) }()
		res, err := r.Run(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "stop: enough", res.Stopped)
		assert.Less(t, res.Phases.Measure.Duration, time.Hour)
	})
	t.Run("stop while intervals overrun", func(t *testing.T) {
		// Every interval's statistics take three intervals to hand over
		// (a slow Interval hook stands for a loaded machine), so interval
		// work is always due: the stop must still be read.
		local := coordinate.NewLocal(coordinate.LocalOptions{})
		cfg := baseConfig(&memPool{})
		cfg.Coordinator = local
		cfg.Warmup = 0
		cfg.Interval = 5 * time.Millisecond
		cfg.Duration = time.Hour
		var once sync.Once
		cfg.Hooks.Interval = func(loadtest.Interval) {
			once.Do(func() {
				go func() {
					_, _ = local.Send(context.Background(), coordinate.Event{Kind: coordinate.EventStop, Reason: "read between intervals"})
				}()
			})
			time.Sleep(3 * cfg.Interval)
		}
		r, err := loadtest.New(cfg)
		require.NoError(t, err)
		go func() { _, _ = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: 1}, 0) }()
		res, err := r.Run(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "stop: read between intervals", res.Stopped)
		assert.Less(t, res.Phases.Measure.Duration, time.Hour)
	})
	t.Run("scale", func(t *testing.T) {
		local := coordinate.NewLocal(coordinate.LocalOptions{})
		p := &memPool{}
		cfg := baseConfig(p)
		cfg.Coordinator = local
		cfg.Workers = 2
		cfg.Warmup = 0
		cfg.Duration = 300 * time.Millisecond
		var active sync.Map
		cfg.Workload.Operations = []loadtest.Operation{{Name: "op", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
			active.Store(w.ID(), true)
			return sleep(ctx, time.Millisecond)
		}}}
		cfg.Hooks.PhaseStart = onStart(timing.Measure, func() {
			go func() {
				_, _ = local.Send(context.Background(), coordinate.Event{Kind: coordinate.EventScale, Concurrency: 5})
			}()
		})
		r, err := loadtest.New(cfg)
		require.NoError(t, err)
		go func() { _, _ = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: 1}, 0) }()
		res, err := r.Run(context.Background())
		require.NoError(t, err)
		for id := 0; id < 5; id++ {
			_, ok := active.Load(id)
			assert.True(t, ok, "worker %d ran after scaling to 5", id)
		}
		var scaled []timing.Mark
		for _, m := range res.Timeline.Marks {
			if m.Phase == timing.Scale {
				scaled = append(scaled, m)
			}
		}
		require.Len(t, scaled, 1)
		assert.Equal(t, "target=5", scaled[0].Detail)
		assert.Equal(t, 0, p.openSessions())
	})
}

func TestRunnerRunsAgain(t *testing.T) {
	p := &memPool{}
	r, err := loadtest.New(baseConfig(p))
	require.NoError(t, err)
	a, err := r.Run(context.Background())
	require.NoError(t, err)
	b, err := r.Run(context.Background())
	require.NoError(t, err)
	assert.NotEqual(t, a.StartedAt, b.StartedAt)
	assert.Greater(t, b.Phases.Measure.Ops, int64(0))
	assert.EqualValues(t, 8, p.warmed.Load(), "each run warms the pool")
}

func TestResultJSONContract(t *testing.T) {
	cfg := baseConfig(&memPool{})
	cfg.RunID = "contract-1"
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)

	var buf bytes.Buffer
	require.NoError(t, loadtest.JSONSink{W: &buf}.Write(context.Background(), res))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
	assert.Equal(t, "contract-1", doc["run_id"])
	_, err = time.Parse(time.RFC3339Nano, doc["started_at"].(string))
	require.NoError(t, err)
	marks := doc["timeline"].([]any)
	require.NotEmpty(t, marks)
	m0 := marks[0].(map[string]any)
	for _, k := range []string{"phase", "worker", "start_ns", "end_ns"} {
		assert.Contains(t, m0, k)
	}
	phases := doc["phases"].(map[string]any)
	for _, ph := range []string{"warmup", "measure"} {
		s := phases[ph].(map[string]any)
		for _, k := range []string{"ops", "errors", "throughput_per_s", "latency_ns"} {
			assert.Contains(t, s, k, "phases.%s", ph)
		}
		lat := s["latency_ns"].(map[string]any)
		for _, k := range []string{"p50", "p90", "p99", "p999", "max"} {
			assert.Contains(t, lat, k)
		}
	}
	op := doc["operations"].(map[string]any)["noop"].(map[string]any)
	assert.EqualValues(t, res.Phases.Measure.Ops, op["ops"])

	var back loadtest.Result
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	assert.Equal(t, res.Timeline.Marks, back.Timeline.Marks)
	assert.True(t, res.StartedAt.Equal(back.StartedAt))
	assert.Equal(t, res.Phases.Measure.Latency, back.Phases.Measure.Latency)
	assert.Equal(t, res.Phases.Measure.Histogram.Count(), back.Phases.Measure.Histogram.Count())
	assert.Equal(t, res.Phases.Measure.Histogram.Quantile(99), back.Phases.Measure.Histogram.Quantile(99))
}

func TestTextReport(t *testing.T) {
	r, err := loadtest.New(baseConfig(&memPool{}))
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, loadtest.TextSink{W: &buf}.Write(context.Background(), res))
	out := buf.String()
	for _, want := range []string{"pool.init", "query.first", "measure", "p99.9", "noop"} {
		assert.Contains(t, out, want)
	}
	assert.True(t, strings.Contains(out, "first query"), "the report states the gap to the first query:\n%s", out)
}

// TestScaleTargetsAreBounded: a scale event asking for more workers than
// Config.MaxWorkers (each would take a session), or for nonsense, is
// refused with a mark on the timeline, and the run goes on as it was.
func TestScaleTargetsAreBounded(t *testing.T) {
	local := coordinate.NewLocal(coordinate.LocalOptions{})
	p := &memPool{}
	cfg := baseConfig(p)
	cfg.Coordinator = local
	cfg.Workers = 2
	cfg.MaxWorkers = 3
	cfg.Warmup = 0
	cfg.Duration = 300 * time.Millisecond
	cfg.Hooks.PhaseStart = onStart(timing.Measure, func() {
		go func() {
			// Above MaxWorkers, within the coordinator's MaxScale (which
			// refuses more itself: see coordinate.Options.MaxScale).
			_, _ = local.Send(context.Background(), coordinate.Event{Kind: coordinate.EventScale, Concurrency: 1000})
		}()
	})
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	go func() { _, _ = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: 1}, 0) }()
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	scaled := res.Timeline.Find(timing.Scale)
	require.Len(t, scaled, 1)
	assert.Equal(t, "ignored", scaled[0].Detail)
	assert.Contains(t, scaled[0].Err, "MaxWorkers")
	assert.EqualValues(t, 2, p.sessions.Load(), "no session taken for the refused target")
	assert.Greater(t, res.Phases.Measure.Ops, int64(0))
}
