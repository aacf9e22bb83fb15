package snowflake_test

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
	"github.com/startline/startline/timing"
)

// splitRun is one run of a Runner on the local server, for the server's
// split.
//
// A run has no warmup unless asked: every worker's first operation then
// starts in the measured window, which therefore holds at least one
// operation per worker however slow the machine.
type splitRun struct {
	server  snowflaketest.Options
	workers int
	warmup  time.Duration
	window  time.Duration // the measured window; default 400ms
	limit   int           // Config.HistoryLimit
	cache   bool          // Settings.ResultCache
	node    string
	ops     []loadtest.Operation
}

// run runs r against s (a new server when nil) and returns the result.
func (r splitRun) run(t *testing.T, s *snowflaketest.Server) (*loadtest.Result, *snowflaketest.Server, *snowflake.Pool) {
	t.Helper()
	if s == nil {
		s = newServer(t, r.server)
		seedSplit(t, s)
	}
	p := newPool(t, s, snowflake.Options{Settings: snowflake.Settings{
		RunID: "run-split", Node: r.node, Warehouse: "split_wh", ResultCache: r.cache,
	}})
	ops := r.ops
	if ops == nil {
		ops = splitOps()
	}
	rn, err := loadtest.New(loadtest.Config{
		RunID: "run-split", Node: r.node, Pool: p, Workers: r.workers,
		Warmup: r.warmup, Duration: cmp.Or(r.window, 400*time.Millisecond),
		HistoryLimit: r.limit,
		Workload:     loadtest.Workload{Operations: ops},
	})
	require.NoError(t, err)
	res, err := rn.Run(context.Background())
	require.NoError(t, err)
	return res, s, p
}

func seedSplit(t *testing.T, s *snowflaketest.Server) {
	t.Helper()
	_, err := s.DB().Exec(`CREATE TABLE "SPLIT" ("ID" INTEGER PRIMARY KEY, "V" INTEGER)`)
	require.NoError(t, err)
	for i := 1; i <= 50; i++ {
		_, err := s.DB().Exec(`INSERT INTO "SPLIT" VALUES (?, ?)`, i, i*3)
		require.NoError(t, err)
	}
}

// splitOps are two operations of one statement each, with arguments that
// change, so that the result cache cannot answer them.
func splitOps() []loadtest.Operation {
	return []loadtest.Operation{
		loadtest.QueryOp("point", 3, `SELECT "V" FROM "SPLIT" WHERE "ID" = ?`,
			func(w *loadtest.Worker, buf []any) []any { return append(buf, 1+w.Rand().IntN(50)) }),
		loadtest.QueryOp("range", 1, `SELECT "V" FROM "SPLIT" WHERE "ID" > ? ORDER BY "V" LIMIT 5`,
			func(w *loadtest.Worker, buf []any) []any { return append(buf, w.Rand().IntN(50)) }),
	}
}

// The history is read once, after the measured window and the teardown,
// never before: on the Runner's timeline, and on the server, where every
// statement of the read began after every worker's statement had ended.
// Nothing is sampled, so every operation startline counted is matched.
func TestServerSplitReadAfterTheWindow(t *testing.T) {
	res, s, _ := splitRun{
		server:  snowflaketest.Options{QueryLatency: snowflaketest.Fixed(3 * time.Millisecond)},
		workers: 4,
		warmup:  150 * time.Millisecond, // the first operations are the warmup's
	}.run(t, nil)

	reads := res.Timeline.Find(timing.ServerHistory)
	require.Len(t, reads, 1)
	read := reads[0]
	assert.Empty(t, read.Err)
	for _, ph := range []timing.Phase{timing.Measure, timing.Teardown, timing.Warmup} {
		m := res.Timeline.Find(ph)
		require.Len(t, m, 1, "%s", ph)
		assert.GreaterOrEqual(t, read.Start, m[0].End, "the read starts after %s ends", ph)
	}
	for _, m := range res.Timeline.Find(timing.QueryFirst) {
		assert.Greater(t, read.Start, m.End)
	}

	var lastWorker, firstRead time.Time
	reads2 := 0
	for _, st := range s.Statements() {
		switch {
		case strings.Contains(st.QueryTag, `"phase":"server.history"`):
			reads2++
			if firstRead.IsZero() || st.Start.Before(firstRead) {
				firstRead = st.Start
			}
		case strings.Contains(st.QueryTag, `"worker":`) && st.End.After(lastWorker):
			lastWorker = st.End
		}
	}
	require.Positive(t, reads2, "the history was read through the driver")
	assert.True(t, firstRead.After(lastWorker), "the first read (%s) after the last worker statement (%s)", firstRead, lastWorker)

	for name, st := range res.Operations {
		sp := st.Server
		require.NotNil(t, sp, name)
		assert.Equal(t, st.Ops, sp.Queries, name)
		assert.Equal(t, st.Ops, sp.Matched, "%s: every operation is in the history", name)
		assert.False(t, sp.Sampled, name)
		assert.Zero(t, sp.CacheHits, name)
	}
	for name, ph := range map[string]loadtest.Stats{"warmup": res.Phases.Warmup, "measure": res.Phases.Measure} {
		require.NotNil(t, ph.Server, name)
		assert.Equal(t, ph.Ops, ph.Server.Matched, name)
	}
	assert.GreaterOrEqual(t, res.Phases.Warmup.Server.Matched, int64(4), "each worker's first operation, at least")
}

// client_ns is startline's latency minus the server's elapsed time, for
// every statement: never negative, and with the server's elapsed time it
// adds up to what startline measured. The server's parts fit in its
// elapsed time, and execution is at least the model's query latency.
func TestServerSplitAddsUp(t *testing.T) {
	const exec = 4 * time.Millisecond
	res, _, _ := splitRun{
		server: snowflaketest.Options{
			QueryLatency:   snowflaketest.Fixed(exec),
			CompileLatency: snowflaketest.Fixed(time.Millisecond),
		},
		workers: 3,
	}.run(t, nil)
	require.GreaterOrEqual(t, res.Phases.Measure.Server.Matched, int64(3))
	for name, st := range res.Operations {
		sp := st.Server
		require.NotNil(t, sp, name)
		if sp.Matched == 0 {
			continue // the random choice never picked it
		}
		// One statement per operation, none failed: each has its client time.
		assert.Equal(t, sp.Matched, sp.Client.N, name)
		assert.Equal(t, sp.Matched, sp.Elapsed.N, name)
		assert.GreaterOrEqual(t, time.Duration(sp.Client.Histogram.Quantile(0)), time.Duration(0), name)
		assert.GreaterOrEqual(t, sp.Client.P50, time.Duration(0), name)

		parts := sp.QueuedProvisioning.Sum + sp.QueuedOverload.Sum + sp.Compilation.Sum + sp.Execution.Sum
		assert.LessOrEqual(t, parts, sp.Elapsed.Sum, "%s: the parts fit in the server's time", name)
		assert.GreaterOrEqual(t, sp.Execution.P50, exec, "%s: execution holds the model's latency", name)
		assert.GreaterOrEqual(t, sp.Compilation.P50, time.Millisecond, name)

		// Elapsed + client is startline's latency, statement by statement;
		// the sum is compared with the latency histogram's mean, which is
		// exact to its 3 significant digits.
		measured := float64(st.Latency.Mean) * float64(st.Ops)
		got := float64(sp.Elapsed.Sum + sp.Client.Sum)
		assert.InEpsilon(t, measured, got, 0.01, "%s: elapsed + client = latency", name)
	}
}

// More workers than the warehouse has slots queue: the split shows the
// wait for a slot (QUEUED_OVERLOAD_TIME) in the median.
func TestServerSplitShowsQueueing(t *testing.T) {
	res, _, _ := splitRun{
		server: snowflaketest.Options{
			QueryLatency: snowflaketest.Fixed(5 * time.Millisecond),
			Warehouse:    snowflaketest.WarehouseOptions{MaxConcurrency: 2},
		},
		workers: 12,
	}.run(t, nil)
	sp := res.Phases.Measure.Server
	require.NotNil(t, sp)
	assert.Positive(t, sp.QueuedOverload.P50, "12 workers on 2 slots wait for one")
	assert.Positive(t, sp.QueuedOverload.Sum)
}

// With the result cache on, a query repeated with the same text is answered
// from the cache: the split counts the hits, which took no execution time.
func TestServerSplitCountsCacheHits(t *testing.T) {
	res, _, _ := splitRun{
		server:  snowflaketest.Options{QueryLatency: snowflaketest.Fixed(3 * time.Millisecond)},
		workers: 1, // its second query finds its first one's result
		window:  1500 * time.Millisecond,
		cache:   true,
		ops:     []loadtest.Operation{loadtest.QueryOp("same", 1, `SELECT "V" FROM "SPLIT" WHERE "ID" = 7`, nil)},
	}.run(t, nil)
	sp := res.Operations["same"].Server
	require.NotNil(t, sp)
	require.GreaterOrEqual(t, sp.Matched, int64(2), "a query takes 3ms, the window 1.5s")
	assert.Equal(t, sp.Matched-1, sp.CacheHits, "all but the first are hits")
	assert.Zero(t, sp.Execution.P50, "a hit executes nothing")
}

// A cap below the run's statements stops the read: the split says it was
// sampled, and holds no more than the cap.
func TestServerSplitCapSetsSampled(t *testing.T) {
	res, _, _ := splitRun{
		server:  snowflaketest.Options{QueryLatency: snowflaketest.Fixed(2 * time.Millisecond)},
		workers: 4, // at least 4 operations: each worker's first
		limit:   3,
	}.run(t, nil)
	m := res.Phases.Measure.Server
	require.NotNil(t, m)
	assert.True(t, m.Sampled)
	assert.Greater(t, m.Queries, int64(3))
	var matched int64
	for _, ph := range []loadtest.Stats{res.Phases.Warmup, res.Phases.Measure} {
		if ph.Server != nil {
			matched += ph.Server.Matched
		}
	}
	assert.Equal(t, int64(3), matched, "exactly the cap was read")
	assert.Contains(t, res.Timeline.Find(timing.ServerHistory)[0].Detail, "sampled")
}

// Two processes of one run on one account (here: two pools with their own
// node names) each read back their own statements only.
func TestServerSplitPerNode(t *testing.T) {
	opts := snowflaketest.Options{QueryLatency: snowflaketest.Fixed(2 * time.Millisecond)}
	first, s, _ := splitRun{server: opts, workers: 2, node: "n1"}.run(t, nil)
	second, _, _ := splitRun{server: opts, workers: 3, node: "n2"}.run(t, s)
	for _, res := range []*loadtest.Result{first, second} {
		m := res.Phases.Measure
		require.NotNil(t, m.Server, res.Node)
		assert.Equal(t, m.Ops, m.Server.Matched, res.Node)
	}
	merged, err := loadtest.Merge(first, second)
	require.NoError(t, err)
	for name, st := range merged.Operations {
		assert.Equal(t, first.Operations[name].Server.Matched+second.Operations[name].Server.Matched, st.Server.Matched, name)
		assert.Equal(t, st.Ops, st.Server.Queries, name)
		assert.Equal(t, st.Server.Matched, st.Server.Client.Histogram.Count(), "%s: the histograms merge", name)
	}
}

// A history that holds fewer statements than expected is read again until
// Options.HistoryWait has passed, and then what it holds is returned.
func TestStatementsWaitsForALaggingHistory(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	seedSplit(t, s)
	const wait = 400 * time.Millisecond
	p := newPool(t, s, snowflake.Options{HistoryWait: wait, Settings: snowflake.Settings{RunID: "run-lag", Node: "n"}})
	ctx := context.Background()
	require.NoError(t, p.Warm(ctx, pool.WarmOptions{Conns: 1}))
	ps, err := p.Session(ctx)
	require.NoError(t, err)
	ps.(*snowflake.Session).TagPhase(0, "measure", "point")
	from := time.Now()
	for i := range 3 {
		_, err := ps.Query(ctx, fmt.Sprintf(`SELECT "V" FROM "SPLIT" WHERE "ID" = %d`, i+1))
		require.NoError(t, err)
	}
	require.NoError(t, ps.Close())

	start := time.Now()
	h, err := p.Statements(ctx, pool.HistoryQuery{From: from, To: time.Now(), Limit: 100, Expect: 5})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), wait, "it waited for the two that never come")
	assert.Len(t, h.Statements, 3)
	assert.False(t, h.Truncated)
	reads := 0
	for _, st := range s.Statements() {
		if strings.Contains(st.QueryTag, `"server.history"`) {
			reads++
		}
	}
	assert.GreaterOrEqual(t, reads, 2, "read again while waiting")
	for _, st := range h.Statements {
		assert.Equal(t, pool.StatementTiming{Worker: 0, Phase: "measure", Operation: "point"},
			pool.StatementTiming{Worker: st.Worker, Phase: st.Phase, Operation: st.Operation})
		assert.False(t, st.Failed)
	}
	assert.Equal(t, time.Millisecond, h.Resolution)

	// Expecting what is there reads once.
	before := reads
	_, err = p.Statements(ctx, pool.HistoryQuery{From: from, To: time.Now(), Limit: 100, Expect: 3})
	require.NoError(t, err)
	reads = 0
	for _, st := range s.Statements() {
		if strings.Contains(st.QueryTag, `"server.history"`) {
			reads++
		}
	}
	assert.Equal(t, before+1, reads)

	_, err = p.Statements(ctx, pool.HistoryQuery{From: from, To: time.Now()})
	assert.ErrorContains(t, err, "Limit must be positive")
}

// Tagging a session before each operation allocates nothing once each
// phase and operation has been seen: the tags are built once.
func TestTagPhaseAllocatesNothing(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	p := newPool(t, s, snowflake.Options{Settings: snowflake.Settings{RunID: "run-tag", Node: "n"}})
	ctx := context.Background()
	require.NoError(t, p.Warm(ctx, pool.WarmOptions{Conns: 1}))
	ps, err := p.Session(ctx)
	require.NoError(t, err)
	defer ps.Close()
	sess := ps.(*snowflake.Session)
	ops := []string{"point", "range", "point", "point", "range"}
	i := 0
	tag := func() { sess.TagPhase(0, "measure", ops[i%len(ops)]); i++ }
	tag()
	tag()
	assert.Zero(t, testing.AllocsPerRun(1000, tag))
	assert.Equal(t, p.Settings().QueryTag(0, "measure", ops[(i-1)%len(ops)]), sess.QueryTag())
	sess.TagPhase(0, "warmup", "point")
	assert.Equal(t, `{"startline":"run-tag","node":"n","worker":0,"phase":"warmup","operation":"point"}`, sess.QueryTag())
}
