package loadtest_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/timing"
)

// capablePool has every optional capability a Runner looks for.
type capablePool struct {
	memPool
	prepared int
	mu       sync.Mutex
	tags     map[int][]string // worker -> phases, in the order tagged
}

const phasePrepare timing.Phase = "test.prepare"

func (p *capablePool) Prepare(ctx context.Context) error { p.prepared++; return nil }
func (p *capablePool) PreparePhase() timing.Phase        { return phasePrepare }
func (p *capablePool) Describe() map[string]string {
	return map[string]string{"warehouse": "WH"}
}

func (p *capablePool) Session(ctx context.Context) (pool.Session, error) {
	s, err := p.memPool.Session(ctx)
	if err != nil {
		return nil, err
	}
	return &taggingSession{Session: s, p: p}, nil
}

type taggingSession struct {
	pool.Session
	p *capablePool
}

func (s *taggingSession) TagPhase(worker int, phase, _ string) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.tags[worker] = append(s.p.tags[worker], phase)
}

func TestOptionalPoolCapabilities(t *testing.T) {
	p := &capablePool{tags: map[int][]string{}}
	cfg := baseConfig(&p.memPool)
	cfg.Pool = p
	cfg.Labels = map[string]string{"build": "abc123"}
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)

	assert.Equal(t, 1, p.prepared)
	prep := res.Timeline.Find(phasePrepare)
	require.Len(t, prep, 1, "Prepare is a span of its own")
	init := res.Timeline.Find(timing.PoolInit)[0]
	first := res.Timeline.Find(timing.QueryFirst)[0]
	assert.GreaterOrEqual(t, prep[0].Start, init.End, "after pool.init")
	assert.LessOrEqual(t, prep[0].End, first.Start, "before the first query")

	assert.Equal(t, map[string]string{"warehouse": "WH"}, res.Pool)
	assert.Equal(t, map[string]string{"build": "abc123"}, res.Labels)

	// Each worker is tagged before its first operation and again only when
	// its phase changes: warmup then measure; on a busy machine measure
	// alone for a worker whose first operation came after the warmup, or
	// warmup alone for one that the scheduler left out of the whole
	// measured window. Never a phase twice, never out of order.
	require.Len(t, p.tags, cfg.Workers)
	for w, phases := range p.tags {
		if len(phases) == 1 {
			assert.Contains(t, []string{"warmup", "measure"}, phases[0], "worker %d", w)
		} else {
			assert.Equal(t, []string{"warmup", "measure"}, phases, "worker %d is tagged once per phase", w)
		}
	}
}

// preparingPool's sessions prepare statements, and remember which and
// whether any query had run on them before.
type preparingPool struct {
	memPool
	prepareErr error
	mu         sync.Mutex
	prepared   map[*preparingSession][]string
	late       int // statements prepared after a query on the same session
	queried    atomic.Int64
}

type preparingSession struct {
	pool.Session
	p       *preparingPool
	queried bool
}

func (p *preparingPool) Session(ctx context.Context) (pool.Session, error) {
	s, err := p.memPool.Session(ctx)
	if err != nil {
		return nil, err
	}
	return &preparingSession{Session: s, p: p}, nil
}

func (s *preparingSession) PrepareStatement(ctx context.Context, query string) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.queried {
		s.p.late++
	}
	s.p.prepared[s] = append(s.p.prepared[s], query)
	return s.p.prepareErr
}

func (s *preparingSession) Query(ctx context.Context, query string, args ...any) (int64, error) {
	s.p.mu.Lock()
	s.queried = true
	s.p.mu.Unlock()
	s.p.queried.Add(1)
	return s.Session.Query(ctx, query, args...)
}

func preparingConfig(p *preparingPool) loadtest.Config {
	cfg := baseConfig(&p.memPool)
	cfg.Pool = p
	cfg.Workload.Operations = []loadtest.Operation{
		loadtest.QueryOp("a", 1, "SELECT a", nil),
		loadtest.QueryOp("b", 1, "SELECT b", nil),
		{Name: "custom", Weight: 1, Run: noop}, // no statements of its own
	}
	return cfg
}

func TestStatementsPreparedBeforeTheStart(t *testing.T) {
	p := &preparingPool{prepared: map[*preparingSession][]string{}}
	cfg := preparingConfig(p)
	cfg.OpTimeout = time.Second // the wrapped operations keep their statements
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)

	require.Len(t, p.prepared, cfg.Workers, "every worker's session")
	for _, stmts := range p.prepared {
		assert.Equal(t, []string{"SELECT a", "SELECT b"}, stmts)
	}
	assert.Zero(t, p.late, "statements prepared after a query on their session")
	assert.Positive(t, p.queried.Load())
	assert.Positive(t, res.Phases.Measure.Ops)
}

func TestStatementPrepareErrorNamesTheWorker(t *testing.T) {
	p := &preparingPool{prepared: map[*preparingSession][]string{}, prepareErr: errors.New("relation \"a\" does not exist")}
	r, err := loadtest.New(preparingConfig(p))
	require.NoError(t, err)
	_, err = r.Run(context.Background())
	var pe *loadtest.PhaseError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, timing.ScaleWarmup, pe.Phase)
	assert.GreaterOrEqual(t, pe.Worker, 0, "names a worker")
	assert.ErrorContains(t, err, `relation "a" does not exist`)
	assert.Zero(t, p.queried.Load(), "no query ran")
	assert.Zero(t, p.openSessions(), "every session taken was closed")
}
