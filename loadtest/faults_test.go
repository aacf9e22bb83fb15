package loadtest_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/internal/faults"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/pgxnative"
	"github.com/startline/startline/pool/sqlpool"
	"github.com/startline/startline/profile"
	"github.com/startline/startline/timing"
)

// faulty is PostgreSQL behind a fault proxy, with an application name of
// its own so that its backends can be found and terminated.
type faulty struct {
	direct string // the DSN without the proxy
	dsn    string // through the proxy
	app    string
	proxy  *faults.Proxy
}

func newFaulty(t *testing.T) *faulty {
	t.Helper()
	dsn := testenv.Postgres(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	p := faults.Start(t, u.Host)
	app := fmt.Sprintf("startline_faults_%d", time.Now().UnixNano())
	u.Host = p.Addr()
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return &faulty{direct: dsn, dsn: u.String(), app: app, proxy: p}
}

// terminate ends every backend of f's connections from the server's side,
// as an administrator or a failover would, and returns how many.
func (f *faulty) terminate(t *testing.T) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, f.direct)
	require.NoError(t, err)
	defer c.Close(ctx)
	var n int
	require.NoError(t, c.QueryRow(ctx,
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", f.app).Scan(&n))
	return n
}

// pools makes each kind of pool over dsn.
var pools = []struct {
	name string
	open func(t *testing.T, dsn string) pool.Pool
}{
	{"pgxnative", func(t *testing.T, dsn string) pool.Pool {
		p, err := pgxnative.Open(context.Background(), dsn, pgxnative.Options{MaxConns: 16})
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		return p
	}},
	{"database/sql", func(t *testing.T, dsn string) pool.Pool {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		p := sqlpool.New(db, sqlpool.Options{})
		t.Cleanup(func() { p.Close() })
		return p
	}},
}

// recovery follows the operations of a fault run: each worker's run of
// successes since its last error, and when the last error came.
type recovery struct {
	mu      sync.Mutex
	streak  map[int]int // worker -> successes since its last error
	lastErr time.Time
}

// recoveredStreak is how many successes in a row make a worker recovered.
const recoveredStreak = 20

func (r *recovery) note(worker int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.streak[worker], r.lastErr = 0, time.Now()
		return
	}
	r.streak[worker]++
}

// quiet reports whether the fault injected at since was met (an
// operation failed after it), every one of workers has recovered (its last
// recoveredStreak operations succeeded) and no operation has failed for d:
// the fault is over, and an operation still in flight follows a run of
// successes on its worker.
func (r *recovery) quiet(since time.Time, workers int, d time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.streak) < workers || r.lastErr.Before(since) {
		return false
	}
	for _, n := range r.streak {
		if n < recoveredStreak {
			return false
		}
	}
	return time.Since(r.lastErr) >= d
}

// faultInterval is the interval length of a fault run.
const faultInterval = 250 * time.Millisecond

// faultRun runs 4 workers of SELECT 1 against p, calls inject in its own
// goroutine 500 ms into the measured window, and stops the run once the
// fault is over: inject returned, every worker has recovered, and no
// operation has failed for two intervals (see recovery.quiet). The run's length follows the events, not
// the clock, so that a loaded machine that is slow to recover only makes
// it longer; it returns the result once inject and the run are done. A
// fault that never clears stops the run after a minute, which the caller's
// assertions then report.
func faultRun(t *testing.T, p pool.Pool, opTimeout time.Duration, inject func()) (*loadtest.Result, error) {
	t.Helper()
	var wg sync.WaitGroup
	defer wg.Wait()
	local := coordinate.NewLocal(coordinate.LocalOptions{})
	rec := &recovery{streak: map[int]int{}}
	sel := loadtest.QueryOp("select", 1, "SELECT 1", nil)
	query := sel.Run
	sel.Run = func(ctx context.Context, w *loadtest.Worker) error {
		err := query(ctx, w)
		rec.note(w.ID(), err)
		return err
	}
	r, err := loadtest.New(loadtest.Config{
		Pool: p, Workers: 4, Duration: time.Hour, Interval: faultInterval,
		OpTimeout: opTimeout, Coordinator: local,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{sel}},
		Hooks: loadtest.Hooks{PhaseStart: onStart(timing.Measure, func() {
			wg.Go(func() {
				time.Sleep(500 * time.Millisecond)
				injected := time.Now()
				inject()
				for giveUp := time.Now().Add(time.Minute); !rec.quiet(injected, 4, 2*faultInterval) && time.Now().Before(giveUp); {
					time.Sleep(10 * time.Millisecond)
				}
				_, _ = local.Send(context.Background(), coordinate.Event{Kind: coordinate.EventStop, Reason: "the fault is over"})
			})
		})},
	})
	require.NoError(t, err)
	go func() { _, _ = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: 1}, 0) }()
	return r.Run(context.Background())
}

// requireRecovered checks a run that met a fault of kind and recovered:
// no error ended it, the failures are counted by kind in the phase and in
// the operation, nothing was lost between the intervals and the totals,
// the workers worked again at the end, and every worker that met the
// fault has a fault mark that ends (recovered) within the window. These
// hold however slowly a loaded machine recovers, since the run ends only
// once it has.
func requireRecovered(t *testing.T, res *loadtest.Result, err error, kind string) {
	t.Helper()
	require.NoError(t, err)
	assert.Equal(t, "stop: the fault is over", res.Stopped)
	m := res.Phases.Measure
	require.Positive(t, m.ErrorsByKind[kind], "errors by kind: %v, samples: %v", m.ErrorsByKind, m.ErrorSamples)
	assert.Equal(t, m.ErrorsByKind, res.Operations["select"].ErrorsByKind)
	assert.Equal(t, m.Errors, res.Operations["select"].Errors)
	var ops, errs int64
	var measured []loadtest.Interval
	for _, iv := range res.Intervals {
		if iv.Phase == timing.Measure {
			ops, errs = ops+iv.Ops, errs+iv.Errors
			measured = append(measured, iv)
		}
	}
	assert.Equal(t, m.Ops, ops, "every operation is in an interval")
	assert.Equal(t, m.Errors, errs, "every error is in an interval")
	// The run stopped once every worker had succeeded recoveredStreak
	// times in a row: the last intervals hold those successes. (Their
	// errors are not asserted: a worker blocked in an operation across
	// intervals hands the failures it recorded before over late, so that
	// they are counted in a later interval; the fault marks below say
	// when they happened.)
	require.GreaterOrEqual(t, len(measured), 2)
	end := measured[len(measured)-2:]
	assert.Positive(t, end[0].Ops+end[1].Ops-end[0].Errors-end[1].Errors, "the workers work again at the end")
	fs := res.Timeline.Find(timing.Fault)
	require.NotEmpty(t, fs, "the fault is on the timeline")
	window := res.Timeline.Find(timing.Measure)
	require.Len(t, window, 1)
	for _, f := range fs {
		assert.NotContains(t, f.Detail, "not recovered")
		assert.NotEmpty(t, f.Err)
		assert.Less(t, f.Start, f.End)
		assert.GreaterOrEqual(t, f.Start, window[0].Start)
		assert.LessOrEqual(t, f.End, window[0].End)
	}
	var buf bytes.Buffer
	require.NoError(t, res.WriteText(&buf))
	assert.Contains(t, buf.String(), string(timing.Fault), "the report shows the fault")
	t.Logf("%s: %d ops, errors %v; fault marks %d, first %s..%s (%s): %s; stopped after %s", kind, m.Ops, m.ErrorsByKind,
		len(fs), timing.FormatDuration(fs[0].Start), timing.FormatDuration(fs[0].End), fs[0].Detail, fs[0].Err,
		timing.FormatDuration(m.Duration))
}

// TestDatabaseFaultsDuringMeasure: connections reset, backends terminated
// by the server, and a stall longer than the operations' timeout, each in
// the middle of the measured window, for each kind of pool. The run goes
// on, counts the failures by kind, replaces the dead connections and
// marks when each worker failed and recovered.
func TestDatabaseFaultsDuringMeasure(t *testing.T) {
	for _, pk := range pools {
		t.Run(pk.name, func(t *testing.T) {
			t.Run("reset", func(t *testing.T) {
				f := newFaulty(t)
				res, err := faultRun(t, pk.open(t, f.dsn), 0, func() {
					f.proxy.Reset(t)
					time.Sleep(300 * time.Millisecond)
					f.proxy.Clear()
				})
				requireRecovered(t, res, err, "connection")
			})
			t.Run("terminated", func(t *testing.T) {
				f := newFaulty(t)
				n := 0
				res, err := faultRun(t, pk.open(t, f.dsn), 0, func() { n = f.terminate(t) })
				assert.GreaterOrEqual(t, n, 4, "every worker's backend was terminated")
				requireRecovered(t, res, err, "connection")
			})
			t.Run("stall with timeout", func(t *testing.T) {
				f := newFaulty(t)
				res, err := faultRun(t, pk.open(t, f.dsn), 200*time.Millisecond, func() {
					f.proxy.Stall(t)
					time.Sleep(1500 * time.Millisecond)
					f.proxy.Clear()
				})
				requireRecovered(t, res, err, "timeout")
			})
		})
	}
}

// TestStallWithoutTimeout: with no operation timeout, the operations
// wait out a stall of the database. The proxy drops what it held, so they
// then fail, the connections are replaced and the run recovers; the fault
// marks span the stall.
func TestStallWithoutTimeout(t *testing.T) {
	for _, pk := range pools {
		t.Run(pk.name, func(t *testing.T) {
			f := newFaulty(t)
			const stall = 1500 * time.Millisecond
			res, err := faultRun(t, pk.open(t, f.dsn), 0, func() {
				f.proxy.Stall(t)
				time.Sleep(stall)
				f.proxy.Clear()
			})
			requireRecovered(t, res, err, "connection")
			for _, m := range res.Timeline.Find(timing.Fault) {
				assert.Greater(t, m.Duration(), stall/2, "the worker was without a working operation through the stall")
			}
		})
	}
}

// TestCancelInterruptsAStuckOperation: the database stops answering, the
// operations hang in their database call, and the run is cancelled: Run
// returns (the context interrupts the calls), and what was measured before
// the stall reaches the sink.
func TestCancelInterruptsAStuckOperation(t *testing.T) {
	for _, pk := range pools {
		t.Run(pk.name, func(t *testing.T) {
			f := newFaulty(t)
			p := pk.open(t, f.dsn)
			sink := &recordingSink{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var cancelled time.Time
			var wg sync.WaitGroup
			r, err := loadtest.New(loadtest.Config{
				Pool: p, Workers: 4, Duration: time.Hour, Sinks: []loadtest.Sink{sink},
				Workload: loadtest.Workload{Operations: []loadtest.Operation{loadtest.QueryOp("select", 1, "SELECT 1", nil)}},
				Hooks: loadtest.Hooks{PhaseStart: onStart(timing.Measure, func() {
					wg.Go(func() {
						time.Sleep(300 * time.Millisecond)
						f.proxy.Stall(t)
						time.Sleep(300 * time.Millisecond)
						cancelled = time.Now()
						cancel()
					})
				})},
			})
			require.NoError(t, err)
			res, err := r.Run(ctx)
			returned := time.Now()
			wg.Wait()
			// pgx cancels the interrupted queries over new connections,
			// which the stall holds: close them all.
			f.proxy.Cut()
			t.Logf("from cancel to Run's return: %s", returned.Sub(cancelled))
			require.ErrorIs(t, err, context.Canceled)
			require.Len(t, sink.results, 1, "the result reaches the sink")
			assert.Same(t, res, sink.results[0])
			assert.Positive(t, res.Phases.Measure.Ops-res.Phases.Measure.Errors, "what ran before the stall is kept")
			assert.Contains(t, res.Stopped, "context")
		})
	}
}

// TestPoolInitRetriesConnections: the database refuses connections during
// pool.init. The warm-up is retried with backoff a bounded number of
// times, then fails naming the phase; when the database comes back in
// time, the run goes on.
func TestPoolInitRetriesConnections(t *testing.T) {
	op := loadtest.Workload{Operations: []loadtest.Operation{loadtest.QueryOp("select", 1, "SELECT 1", nil)}}
	t.Run("gives up", func(t *testing.T) {
		f := newFaulty(t)
		p := pools[0].open(t, f.dsn)
		f.proxy.Cut()
		r, err := loadtest.New(loadtest.Config{Pool: p, Workers: 2, Duration: 100 * time.Millisecond,
			SetupAttempts: 3, SetupBackoff: 10 * time.Millisecond, Workload: op})
		require.NoError(t, err)
		res, err := r.Run(context.Background())
		var pe *loadtest.PhaseError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, timing.PoolInit, pe.Phase)
		assert.ErrorContains(t, err, "pool.init: 3 attempts failed")
		assert.Equal(t, pool.KindConnection, pool.Classify(err))
		assert.Len(t, res.Timeline.Find(timing.SetupRetry), 2, "two retries after the first attempt")
		assert.Empty(t, res.Timeline.Find(timing.QueryFirst), "no worker started")
	})
	t.Run("recovers", func(t *testing.T) {
		f := newFaulty(t)
		p := pools[1].open(t, f.dsn)
		f.proxy.Cut()
		var once sync.Once
		r, err := loadtest.New(loadtest.Config{Pool: p, Workers: 2, Duration: 100 * time.Millisecond,
			SetupBackoff: 50 * time.Millisecond, Workload: op,
			Hooks: loadtest.Hooks{ConnOpened: func(ci loadtest.ConnOpenedInfo) {
				if ci.Err != nil {
					once.Do(func() { f.proxy.Restore(t) })
				}
			}}})
		require.NoError(t, err)
		res, err := r.Run(context.Background())
		require.NoError(t, err)
		assert.NotEmpty(t, res.Timeline.Find(timing.SetupRetry))
		assert.Positive(t, res.Phases.Measure.Ops)
		assert.Zero(t, res.Phases.Measure.Errors)
	})
}

// clearOnRetry is a slog handler that clears the proxy's faults when the
// Runner logs a retry: the fault lasts exactly one attempt.
type clearOnRetry struct{ proxy *faults.Proxy }

func (h clearOnRetry) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h clearOnRetry) WithGroup(string) slog.Handler      { return h }

func (h clearOnRetry) Enabled(context.Context, slog.Level) bool { return true }
func (h clearOnRetry) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "retrying") {
		h.proxy.Clear()
	}
	return nil
}

// TestProfileRetriesReads: profiling reads through connections that are
// reset; the reads are retried, and the run goes on. A statement error (a
// table that does not exist) is not retried: it fails at once, naming
// setup.profile.
func TestProfileRetriesReads(t *testing.T) {
	f := newFaulty(t)
	db, err := sql.Open("pgx", f.direct)
	require.NoError(t, err)
	defer db.Close()
	table := fmt.Sprintf("loadtest_faults_%d", time.Now().UnixNano())
	seedItems(t, db, table, 100)
	defer db.Exec("DROP TABLE " + table)
	pdb, err := sql.Open("pgx", f.dsn)
	require.NoError(t, err)
	defer pdb.Close()
	prof := &profile.SQLProfiler{DB: pdb, Dialect: dialect.Postgres}
	cfg := func(tbl string) loadtest.Config {
		return loadtest.Config{
			Pool: pools[0].open(t, f.direct), Profiler: prof, Workers: 2, Duration: 100 * time.Millisecond,
			SetupBackoff: 10 * time.Millisecond,
			Logger:       slog.New(clearOnRetry{proxy: f.proxy}),
			Workload: loadtest.Workload{
				Tables:     []profile.TableSpec{{Table: tbl, Key: "id"}},
				Operations: []loadtest.Operation{{Name: "noop", Weight: 1, Run: noop}},
			},
		}
	}
	t.Run("reset", func(t *testing.T) {
		f.proxy.Reset(t)
		r, err := loadtest.New(cfg(table))
		require.NoError(t, err)
		res, err := r.Run(context.Background())
		require.NoError(t, err)
		retries := res.Timeline.Find(timing.SetupRetry)
		require.Len(t, retries, 1)
		assert.Contains(t, retries[0].Detail, string(timing.SetupProfile))
		assert.Positive(t, res.Phases.Measure.Ops)
	})
	t.Run("missing table", func(t *testing.T) {
		r, err := loadtest.New(cfg(table + "_missing"))
		require.NoError(t, err)
		res, err := r.Run(context.Background())
		var pe *loadtest.PhaseError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, timing.SetupProfile, pe.Phase)
		assert.Equal(t, pool.KindSQL, pool.Classify(err))
		assert.Empty(t, res.Timeline.Find(timing.SetupRetry), "a statement error is not retried")
	})
}

// TestOperationTimeout: with Config.OpTimeout, an operation that would
// hang ends at its deadline and counts as a timeout; a worker that never
// recovers has a fault mark that says so.
func TestOperationTimeout(t *testing.T) {
	cfg := baseConfig(&memPool{})
	cfg.Warmup, cfg.Duration, cfg.OpTimeout = 0, 200*time.Millisecond, 20*time.Millisecond
	cfg.Workload.Operations = []loadtest.Operation{{Name: "hang", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
		<-ctx.Done()
		return fmt.Errorf("hang: %w", ctx.Err())
	}}}
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	m := res.Phases.Measure
	require.Positive(t, m.Ops)
	assert.Equal(t, m.Ops, m.Errors)
	assert.Equal(t, map[string]int64{"timeout": m.Ops}, m.ErrorsByKind)
	fs := res.Timeline.Find(timing.Fault)
	require.Len(t, fs, 4, "one per worker")
	for _, f := range fs {
		assert.Equal(t, "timeout (not recovered)", f.Detail)
	}

	cfg.OpTimeout = -time.Second
	_, err = loadtest.New(cfg)
	var ce *loadtest.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "OpTimeout", ce.Field)
}

// TestFaultMarksAreBounded: a worker whose operations fail on and off
// marks its first faults only, and counts every failure.
func TestFaultMarksAreBounded(t *testing.T) {
	cfg := baseConfig(&memPool{})
	cfg.Workers, cfg.Warmup, cfg.Duration = 1, 0, 100*time.Millisecond
	n := 0
	cfg.Workload.Operations = []loadtest.Operation{{Name: "flaky", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
		if n++; n%2 == 0 {
			return errors.New("flaky: lost")
		}
		return nil
	}}}
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	require.Greater(t, res.Phases.Measure.Errors, int64(16))
	assert.Equal(t, res.Phases.Measure.Errors, res.Phases.Measure.ErrorsByKind["other"])
	assert.Len(t, res.Timeline.Find(timing.Fault), 16)
}
