package sqlcoord_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/pgxnative"
	"github.com/startline/startline/timing"
)

// TestCoordinatorUnreachableMidRun cuts the node's connection to the
// coordinator's database in the middle of the measured window, while the
// measured workload uses a connection of its own. The measurement goes on
// undisturbed; the heartbeats fail, are retried, and succeed once the
// database is back, and the gap is on the node's timeline; the
// orchestrator, whose missed-beat budget is longer than the gap, does not
// declare the node lost, and its result (through the results store, on
// its own connection) has the gap.
func TestCoordinatorUnreachableMidRun(t *testing.T) {
	db := postgresDatabase(t)
	ctx := context.Background()
	h := open(t, db)
	tb := tables(t, db, h)
	run := runID()
	o := orchestrator(t, backend(t, tb, run, nil), func(oo *coordinate.Options) { oo.MissedBeats = 100 }) // 2 s
	ph, proxy := proxied(t, db.dsn)
	ptb := tb
	ptb.DB = ph
	c := client(t, backend(t, ptb, run, nil), fast())
	sink, err := sqlsink.New(h, db.d, sqlsink.Options{Prefix: tb.Prefix})
	require.NoError(t, err)
	p, err := pgxnative.Open(ctx, db.dsn, pgxnative.Options{MaxConns: 4})
	require.NoError(t, err)
	defer p.Close()

	const cut = 500 * time.Millisecond
	var wg sync.WaitGroup
	var cutAt, restoredAt time.Duration
	r, err := loadtest.New(loadtest.Config{
		RunID: run, Node: "n", Pool: p, Coordinator: c, Sinks: []loadtest.Sink{sink},
		Workers: 2, Duration: 1500 * time.Millisecond, Interval: 100 * time.Millisecond,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{loadtest.QueryOp("one", 1, "SELECT 1", nil)}},
		Hooks: loadtest.Hooks{PhaseStart: func(i loadtest.PhaseStartInfo) {
			if i.Phase == timing.Measure {
				wg.Go(func() {
					time.Sleep(300 * time.Millisecond)
					proxy.Cut()
					cutAt = i.At + 300*time.Millisecond
					time.Sleep(cut)
					proxy.Restore(t)
					restoredAt = cutAt + cut
				})
			}
		}},
	})
	require.NoError(t, err)
	wg.Go(func() {
		_, _ = o.StartWhenReady(ctx, coordinate.Readiness{Nodes: 1}, 20*time.Millisecond)
	})
	res, err := r.Run(ctx)
	wg.Wait()
	require.NoError(t, err)

	m := res.Phases.Measure
	assert.Positive(t, m.Ops)
	assert.Zero(t, m.Errors, "%v", m.ErrorSamples)
	// The measurement goes on through the cut. (Per interval: an interval
	// may be empty on a loaded machine, its operations counted in the
	// next, so the intervals within the cut are summed.)
	var during int64
	for _, iv := range res.Intervals {
		if iv.Phase == timing.Measure && iv.Start >= cutAt && iv.Start+iv.Duration <= restoredAt+iv.Duration {
			during += iv.Ops
		}
	}
	assert.Positive(t, during, "operations measured during the cut")
	gaps := res.Timeline.Find(timing.CoordUnreachable)
	require.NotEmpty(t, gaps, "the gap is on the timeline")
	g := gaps[0]
	t.Logf("cut %s..%s (approx.); gap marked %s..%s, %s: %s", timing.FormatDuration(cutAt), timing.FormatDuration(restoredAt),
		timing.FormatDuration(g.Start), timing.FormatDuration(g.End), g.Detail, g.Err)
	assert.Contains(t, g.Detail, "failed heartbeats=")
	assert.NotContains(t, g.Detail, "not recovered")
	assert.NotEmpty(t, g.Err)
	assert.Greater(t, g.Duration(), cut/2, "the gap spans most of the cut")
	window := res.Timeline.Find(timing.Measure)
	require.Len(t, window, 1)
	assert.Greater(t, g.Start, window[0].Start)
	assert.Less(t, g.End, window[0].End)

	assert.Empty(t, o.Lost(), "within its budget, the node is not lost")
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = o.AwaitDone(cctx)
	require.NoError(t, err)
	results, err := loadtest.Collect(cctx, sink, run, []string{"n"})
	require.NoError(t, err)
	require.Len(t, results, 1)
	assert.Len(t, results[0].Timeline.Find(timing.CoordUnreachable), len(gaps), "the gap reaches the orchestrator")
}
