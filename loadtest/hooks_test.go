package loadtest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/profile"
	"github.com/startline/startline/timing"
)

// flakyWarmPool fails its first warm-up with a lost connection, so that
// pool.init is retried once.
type flakyWarmPool struct {
	capablePool
	warms atomic.Int64
}

func (p *flakyWarmPool) Warm(ctx context.Context, opts pool.WarmOptions) error {
	if p.warms.Add(1) == 1 {
		return io.ErrUnexpectedEOF
	}
	return p.capablePool.Warm(ctx, opts)
}

// emptyProfiler profiles nothing, in no time.
type emptyProfiler struct{}

func (emptyProfiler) Profile(context.Context, []profile.TableSpec) (*profile.Profile, error) {
	return &profile.Profile{}, nil
}

// markingCoordinator is a Local coordinator whose members record a mark
// of their own on the run's timeline, from a goroutine of theirs, as a
// coordinator backend records coord.unreachable.
type markingCoordinator struct{ *coordinate.Local }

func (c markingCoordinator) Join(ctx context.Context, n coordinate.Node) (coordinate.Member, error) {
	m, err := c.Local.Join(ctx, n)
	if err != nil {
		return nil, err
	}
	mm := &markingMember{Member: m}
	mm.mark(n.Recorder)
	return mm, nil
}

type markingMember struct {
	coordinate.Member
	wg sync.WaitGroup
}

// mark records one coord.unreachable span on rec, the run's timeline the
// Runner passed in at Join, as a backend whose heartbeats failed for a
// while does.
func (m *markingMember) mark(rec *timing.Recorder) {
	m.wg.Go(func() {
		at := rec.Now()
		rec.Record(timing.Mark{Phase: timing.CoordUnreachable, Worker: timing.Process, Start: at, End: at + time.Millisecond})
	})
}

func (m *markingMember) Leave(ctx context.Context, err error) error {
	m.wg.Wait()
	return m.Member.Leave(ctx, err)
}

// TestHooksSeeEveryPhase: a run that goes through every phase the
// registry names (a retried pool.init, the pool's own preparation phase,
// a profile, a coordinator, sinks, a scale, a fault) calls PhaseStart and
// PhaseDone for every phase the Runner runs, as the registry's kinds say,
// and Mark for every mark on its timeline, including the marks that its
// workers and its coordinator member record.
func TestHooksSeeEveryPhase(t *testing.T) {
	p := &flakyWarmPool{capablePool: capablePool{tags: map[int][]string{}}}
	local := coordinate.NewLocal(coordinate.LocalOptions{Heartbeat: 10 * time.Millisecond})
	var mu sync.Mutex
	started := map[timing.Phase]int{}
	var done []loadtest.PhaseDoneInfo
	var marks []timing.Mark
	var ops0 atomic.Int64
	cfg := baseConfig(&p.memPool)
	cfg.Pool = p
	cfg.SetupBackoff = time.Millisecond
	cfg.Profiler = emptyProfiler{}
	cfg.Workload.Tables = []profile.TableSpec{{Table: "items"}}
	cfg.Workload.Operations = []loadtest.Operation{{Name: "op", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
		if w.ID() == 0 && ops0.Add(1) == 2 {
			return io.EOF // one lost connection: a fault, recovered by the next operation
		}
		return nil
	}}}
	cfg.Interval = 10 * time.Millisecond
	cfg.Stages = []loadtest.Stage{{Duration: cfg.Warmup, Target: 4}, {Duration: cfg.Duration, Target: 2}}
	cfg.Coordinator = markingCoordinator{local}
	cfg.Sinks = []loadtest.Sink{&recordingSink{}}
	cfg.Hooks = loadtest.Hooks{
		PhaseStart: func(i loadtest.PhaseStartInfo) {
			mu.Lock()
			started[i.Phase]++
			mu.Unlock()
		},
		PhaseDone: func(i loadtest.PhaseDoneInfo) {
			mu.Lock()
			done = append(done, i)
			mu.Unlock()
		},
		Mark: func(m timing.Mark) {
			mu.Lock()
			marks = append(marks, m)
			mu.Unlock()
		},
	}
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	go func() {
		_, _ = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: 1}, 10*time.Millisecond)
	}()
	res, err := r.Run(context.Background())
	require.NoError(t, err)

	// PhaseStart and PhaseDone for every phase the Runner runs, by kind.
	var want []timing.Phase
	for _, info := range timing.Phases() {
		switch info.Kind {
		case timing.KindStartup, timing.KindWorker, timing.KindWindow:
			if info.Phase == timing.ServerHistory {
				continue // only for a pool.StatementHistory
			}
			want = append(want, info.Phase)
		}
	}
	want = append(want, phasePrepare) // an unknown phase is a startup span
	doneBy := map[timing.Phase]int{}
	for _, d := range done {
		doneBy[d.Phase]++
		assert.NoError(t, d.Err, "%s", d.Phase)
	}
	for _, ph := range want {
		assert.Positive(t, started[ph], "PhaseStart for %s", ph)
		assert.Equal(t, started[ph], doneBy[ph], "a PhaseDone for each PhaseStart of %s", ph)
	}
	assert.Equal(t, 4, started[timing.QueryFirst], "one query.first per worker")

	// Mark for every mark, whoever recorded it, and nothing else.
	assert.ElementsMatch(t, res.Timeline.Marks, marks)
	for _, ph := range []timing.Phase{timing.PoolConn, timing.SetupRetry, timing.Scale, timing.Fault,
		timing.CoordStart, timing.CoordUnreachable} {
		assert.True(t, slices.ContainsFunc(marks, func(m timing.Mark) bool { return m.Phase == ph }), "Mark saw %s", ph)
	}
	// Every PhaseDone matches the mark of its span.
	for _, d := range done {
		assert.True(t, slices.ContainsFunc(marks, func(m timing.Mark) bool {
			return m.Phase == d.Phase && m.Worker == d.Worker && m.Start == d.Start && m.End == d.End
		}), "a mark for %s done at %s", d.Phase, d.End)
	}
}

// A failed phase's PhaseDone carries the error itself, which errors.Is
// can test; its mark carries the text.
func TestPhaseDoneCarriesTheError(t *testing.T) {
	errDown := errors.New("pool down")
	cfg := baseConfig(&memPool{warmErr: errDown})
	var got error
	var mark timing.Mark
	cfg.Hooks.PhaseDone = func(i loadtest.PhaseDoneInfo) {
		if i.Phase == timing.PoolInit {
			got = i.Err
		}
	}
	cfg.Hooks.Mark = func(m timing.Mark) {
		if m.Phase == timing.PoolInit {
			mark = m
		}
	}
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	_, err = r.Run(context.Background())
	require.ErrorIs(t, err, errDown)
	assert.ErrorIs(t, got, errDown)
	assert.Equal(t, "pool down", mark.Err)
}

// ComposeHooks calls every hook of each of its arguments, in order, and
// leaves nil what none of them set.
func TestComposeHooks(t *testing.T) {
	var calls []string
	rec := func(name string) loadtest.Hooks {
		add := func(ev string) { calls = append(calls, name+" "+ev) }
		return loadtest.Hooks{
			PhaseStart:  func(loadtest.PhaseStartInfo) { add("start") },
			PhaseDone:   func(loadtest.PhaseDoneInfo) { add("done") },
			Mark:        func(timing.Mark) { add("mark") },
			ConnOpened:  func(loadtest.ConnOpenedInfo) { add("conn") },
			StartSignal: func(loadtest.StartSignalInfo) { add("signal") },
			Interval:    func(loadtest.Interval) { add("interval") },
		}
	}
	h := loadtest.ComposeHooks(rec("a"), loadtest.Hooks{}, rec("b"))
	h.PhaseStart(loadtest.PhaseStartInfo{})
	h.PhaseDone(loadtest.PhaseDoneInfo{})
	h.Mark(timing.Mark{})
	h.ConnOpened(loadtest.ConnOpenedInfo{})
	h.StartSignal(loadtest.StartSignalInfo{})
	h.Interval(loadtest.Interval{})
	assert.Equal(t, []string{"a start", "b start", "a done", "b done", "a mark", "b mark",
		"a conn", "b conn", "a signal", "b signal", "a interval", "b interval"}, calls)

	only := loadtest.ComposeHooks(loadtest.Hooks{}, loadtest.Hooks{Interval: func(loadtest.Interval) {}})
	assert.NotNil(t, only.Interval)
	assert.Nil(t, only.PhaseStart, "nobody set it")
	assert.Nil(t, only.Mark)
	assert.Equal(t, loadtest.Hooks{}, loadtest.ComposeHooks())
}

// Progress composes with a program's own hooks: both see the run.
func TestProgressComposes(t *testing.T) {
	var buf bytes.Buffer
	var phases []timing.Phase
	cfg := baseConfig(&memPool{})
	cfg.Interval = 20 * time.Millisecond
	cfg.Hooks = loadtest.ComposeHooks(loadtest.Progress(&buf), loadtest.Hooks{
		PhaseDone: func(i loadtest.PhaseDoneInfo) {
			if i.Worker == timing.Process {
				phases = append(phases, i.Phase)
			}
		},
	})
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	_, err = r.Run(context.Background())
	require.NoError(t, err)
	assert.Contains(t, buf.String(), "measure", "the progress line was drawn")
	assert.Equal(t, []timing.Phase{timing.PoolInit, timing.ScaleWarmup, timing.Warmup, timing.Measure, timing.Teardown}, phases)
}
