package loadtest_test

import (
	"context"
	"sync"
	"testing"

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
