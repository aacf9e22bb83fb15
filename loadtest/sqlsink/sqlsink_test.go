package sqlsink_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/faults"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sinktest"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/timing"
)

// rowsOf is how many rows of each table a result makes.
func rowsOf(res *loadtest.Result) map[string]int {
	ivs := 0
	for _, iv := range res.Intervals {
		ivs += 1 + len(iv.Operations)
	}
	hists := 0
	for _, s := range []loadtest.Stats{res.Phases.Warmup, res.Phases.Measure} {
		if s.Histogram != nil {
			hists++
		}
	}
	for _, m := range []map[string]loadtest.Stats{res.WarmupOperations, res.Operations} {
		for _, s := range m {
			if s.Histogram != nil {
				hists++
			}
		}
	}
	return map[string]int{
		sqlsink.TestResults: 1, sqlsink.Timeline: len(res.Timeline.Marks),
		sqlsink.Intervals: ivs, sqlsink.Histograms: hists,
	}
}

// The conformance suite, on every database the sink writes to here.
func TestConformance(t *testing.T) {
	for _, tg := range []struct {
		name string
		open func(*testing.T) target
	}{
		{"sqlite", sqliteTarget}, {"postgres", postgresTarget}, {"mariadb", mariaTarget}, {"snowflake", snowflakeTarget},
	} {
		t.Run(tg.name, func(t *testing.T) { sinktest.Run(t, harness(tg.open(t))) })
	}
}

// The conformance suite on the spill path: the database goes away after
// each test start, so that every Write saves its result to a file, which
// holds the result whole.
func TestConformanceSpill(t *testing.T) {
	dsn := testenv.Postgres(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	px := faults.Start(t, u.Host)
	u.Host = px.Addr()
	tg := target{"postgres", openPgx(t, u.String()), dialect.Postgres}
	direct := postgresTarget(t)
	var mu sync.Mutex
	dirOf := map[loadtest.Sink]string{}
	sinktest.Run(t, sinktest.Harness{
		New: func(t *testing.T) loadtest.Sink {
			dir := t.TempDir()
			s, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: prefix(t, direct), SpillDir: dir, Timeout: 5 * time.Second})
			require.NoError(t, err)
			sink := &cutBeforeWrite{Sink: s, proxy: px, t: t}
			mu.Lock()
			dirOf[sink] = dir
			mu.Unlock()
			return sink
		},
		Read: func(t *testing.T, s loadtest.Sink, runID, node string) []sinktest.Record {
			mu.Lock()
			dir := dirOf[s]
			mu.Unlock()
			return spilled(t, dir, runID, node)
		},
		Appends:  true, // one file per Write
		Tolerate: isSpill,
	})
}

// cutBeforeWrite cuts the sink's database off for each Write, and
// restores it after: the database goes away between a run's test start
// and its result.
type cutBeforeWrite struct {
	*sqlsink.Sink
	proxy *faults.Proxy
	t     testing.TB // the subtest that made the sink
	mu    sync.Mutex
}

func (c *cutBeforeWrite) Write(ctx context.Context, res *loadtest.Result) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.proxy.Cut()
	defer c.proxy.Restore(c.t)
	err := c.Sink.Write(ctx, res)
	if !errors.Is(err, sqlsink.ErrSpilled) {
		return fmt.Errorf("the database was cut off, yet Write returned %v", err)
	}
	return err
}

func assertRows(t *testing.T, tg target, prefix string, res *loadtest.Result) {
	t.Helper()
	for table, want := range rowsOf(res) {
		assert.Equal(t, want, count(t, tg, prefix+table, res.RunID, res.Node), "%s rows of %s/%s", table, res.RunID, res.Node)
	}
}

func TestSinkSQLite(t *testing.T)    { testSink(t, sqliteTarget(t)) }
func TestSinkPostgres(t *testing.T)  { testSink(t, postgresTarget(t)) }
func TestSinkMariaDB(t *testing.T)   { testSink(t, mariaTarget(t)) }
func TestSinkSnowflake(t *testing.T) { testSink(t, snowflakeTarget(t)) }

func testSink(t *testing.T, tg target) {
	ctx := context.Background()
	p := prefix(t, tg)
	sink, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: p, BatchRows: 7, SpillDir: t.TempDir()})
	require.NoError(t, err)

	// A real run writes its test start, then its result.
	var startStatus string
	res, err := runResult(t, "node-a", []loadtest.Sink{sink}, func() {
		// By now the test start has been written.
		_ = tg.db.QueryRow("SELECT " + tg.ident(t, "status") + " FROM " + tg.ident(t, p+sqlsink.TestResults)).Scan(&startStatus)
	})
	require.NoError(t, err)
	require.NotEmpty(t, res.Intervals)
	require.NotNil(t, res.Phases.Measure.Histogram)
	assert.Equal(t, sqlsink.StatusStarted, startStatus, "TestStart wrote the row before the result")
	assertRows(t, tg, p, res)

	results := tg.ident(t, p+sqlsink.TestResults)
	var status string
	var ops, workers int64
	var config string
	require.NoError(t, tg.db.QueryRow("SELECT "+tg.ident(t, "status")+", "+tg.ident(t, "measure_ops")+", "+
		tg.ident(t, "workers")+", "+tg.ident(t, "config")+" FROM "+results).Scan(&status, &ops, &workers, &config))
	assert.Equal(t, sqlsink.StatusDone, status)
	assert.Equal(t, res.Phases.Measure.Ops, ops)
	assert.EqualValues(t, 3, workers)
	assert.Contains(t, config, `"interval_ns":50000000`)

	var firsts int
	require.NoError(t, tg.db.QueryRow("SELECT count(*) FROM "+tg.ident(t, p+sqlsink.Timeline)+" WHERE "+
		tg.ident(t, "phase")+" = 'query.first' AND "+tg.ident(t, "worker")+" >= 0").Scan(&firsts))
	assert.Equal(t, len(res.Timeline.Find(timing.QueryFirst)), firsts)

	// Writing the same result again leaves one copy.
	require.NoError(t, sink.Write(ctx, res))
	assertRows(t, tg, p, res)

	// A second node of the same run: the histograms merge exactly.
	res2, err := runResult(t, "node-b", []loadtest.Sink{sink}, nil)
	require.NoError(t, err)
	assertRows(t, tg, p, res2)
	merged, err := sqlsink.MergedHistogram(ctx, tg.db, tg.d, p, "sink-test", timing.Measure, "")
	require.NoError(t, err)
	want := res.Phases.Measure.Histogram
	want.Merge(res2.Phases.Measure.Histogram)
	assert.Equal(t, want.Count(), merged.Count())
	for _, q := range []float64{50, 90, 99, 99.9, 100} {
		assert.Equal(t, want.Quantile(q), merged.Quantile(q), "p%v", q)
	}
	one, err := sqlsink.MergedHistogram(ctx, tg.db, tg.d, p, "sink-test", timing.Measure, "one")
	require.NoError(t, err)
	assert.Equal(t, res.Operations["one"].Histogram.Count()+res2.Operations["one"].Histogram.Count(), one.Count())
	_, err = sqlsink.MergedHistogram(ctx, tg.db, tg.d, p, "no-such-run", timing.Measure, "")
	assert.ErrorIs(t, err, sqlsink.ErrNoHistogram)
}

func TestNewValidatesPrefix(t *testing.T) {
	db := sqliteDB(t)
	for _, bad := range []string{"x; DROP TABLE y; --", "1abc_", "a b_", `x"_`, strings.Repeat("p", 60)} {
		_, err := sqlsink.New(db, dialect.Postgres, sqlsink.Options{Prefix: bad})
		assert.ErrorIs(t, err, dialect.ErrBadIdent, "prefix %q", bad)
		assert.ErrorIs(t, sqlsink.DropTables(context.Background(), db, dialect.Postgres, bad), dialect.ErrBadIdent)
	}
	s, err := sqlsink.New(db, dialect.SQLite, sqlsink.Options{Prefix: "main.lt_"})
	require.NoError(t, err, "a schema-qualified prefix is fine")
	require.NoError(t, s.CreateSchema(context.Background()))
	require.NoError(t, s.CreateSchema(context.Background()), "idempotent")
	_, err = sqlsink.New(nil, dialect.SQLite, sqlsink.Options{})
	assert.Error(t, err)
	_, err = sqlsink.New(db, dialect.SQLite, sqlsink.Options{BatchRows: -1})
	assert.Error(t, err)
}

// loadSpill checks that err names a spill file holding res, loads it, twice,
// and checks that every row arrived once.
func loadSpill(t *testing.T, tg target, prefix string, res *loadtest.Result, err error) {
	t.Helper()
	require.ErrorIs(t, err, sqlsink.ErrSpilled)
	se, ok := errors.AsType[*sqlsink.SpillError](err)
	require.True(t, ok)
	assert.Contains(t, err.Error(), se.Path)
	saved, rerr := loadtest.ReadResultFile(se.Path)
	require.NoError(t, rerr)
	assert.Equal(t, res.Timeline.Marks, saved.Timeline.Marks)

	require.NoError(t, sqlsink.LoadFile(context.Background(), tg.db, tg.d, prefix, se.Path))
	assertRows(t, tg, prefix, res)
	require.NoError(t, sqlsink.LoadFile(context.Background(), tg.db, tg.d, prefix, se.Path))
	assertRows(t, tg, prefix, res)
}

// SQLite locked by another connection in the middle of the run: the result
// goes to a file, and from the file to the database once it is free.
func TestSpillWhenSQLiteLocked(t *testing.T) {
	ctx := context.Background()
	tg := sqliteTarget(t)
	p := prefix(t, tg)
	sink, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: p, SpillDir: t.TempDir(), Timeout: 300 * time.Millisecond})
	require.NoError(t, err)

	conn, err := tg.db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	locked := false
	res, err := runResult(t, "locked", []loadtest.Sink{sink}, func() {
		_, lerr := conn.ExecContext(ctx, "BEGIN EXCLUSIVE")
		locked = lerr == nil
	})
	require.True(t, locked)
	require.Error(t, err)
	_, uerr := conn.ExecContext(ctx, "ROLLBACK")
	require.NoError(t, uerr)
	assert.Equal(t, 0, count(t, tg, p+sqlsink.Timeline, res.RunID, res.Node), "nothing was written while locked")
	loadSpill(t, tg, p, res, err)
}

// PostgreSQL reached through a fault proxy that is cut off in the middle
// of the run and restored after it: every row arrives in the end.
func TestSpillWhenPostgresGoesAway(t *testing.T) {
	u, err := url.Parse(testenv.Postgres(t))
	require.NoError(t, err)
	direct := postgresTarget(t)
	px := faults.Start(t, u.Host)
	u.Host = px.Addr()
	tg := target{"postgres", openPgx(t, u.String()), dialect.Postgres}
	p := prefix(t, direct)

	sink, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: p, SpillDir: t.TempDir(), Timeout: 5 * time.Second})
	require.NoError(t, err)
	res, err := runResult(t, "cut-off", []loadtest.Sink{sink}, px.Cut)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "saved to")
	// The test start got through before the cut; the result did not.
	assert.Equal(t, 1, count(t, direct, p+sqlsink.TestResults, res.RunID, res.Node))
	assert.Equal(t, 0, count(t, direct, p+sqlsink.Timeline, res.RunID, res.Node))

	px.Restore(t)
	loadSpill(t, tg, p, res, err)
	assertRows(t, direct, p, res)
	var status string
	require.NoError(t, direct.db.QueryRow("SELECT status FROM "+direct.ident(t, p+sqlsink.TestResults)).Scan(&status))
	assert.Equal(t, sqlsink.StatusDone, status)
}

func TestLoadFileRefusesBadFile(t *testing.T) {
	tg := sqliteTarget(t)
	path := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(path, []byte("{\n  \"run_id\": \"x\",\n  \"phases\": {\"measure\": {\"ops\": \"many\"}}\n}\n"), 0o600))
	err := sqlsink.LoadFile(context.Background(), tg.db, tg.d, "", path)
	require.ErrorIs(t, err, loadtest.ErrBadResult)
	assert.Contains(t, err.Error(), path+":3:")
	assert.Contains(t, err.Error(), "phases.measure.ops")
}

// A result with more marks than one INSERT may carry parameters for (5000
// marks of 11 columns, past SQLite's 32766) is split into batches even when
// BatchRows allows more.
func TestWriteSplitsAtParameterLimit(t *testing.T) {
	tg := sqliteTarget(t)
	p := prefix(t, tg)
	sink, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: p, BatchRows: 1 << 20, SpillDir: t.TempDir()})
	require.NoError(t, err)
	res := &loadtest.Result{RunID: "big", Node: "n", StartedAt: time.Now()}
	for i := range 5000 {
		res.Timeline.Marks = append(res.Timeline.Marks, timing.Mark{Phase: timing.QueryFirst, Worker: i, Start: time.Duration(i), End: time.Duration(i + 1)})
	}
	require.NoError(t, sink.Write(context.Background(), res))
	assert.Equal(t, 5000, count(t, tg, p+sqlsink.Timeline, "big", "n"))
}

// Sinks of many processes share the tables: each of them, writing its own
// node at the same time as the others, gets its result in. On MySQL this
// needs the sink's READ COMMITTED transactions: with gap locks their
// deletes and inserts deadlock.
func TestSinksOfManyProcessesShareTheTables(t *testing.T) {
	for _, open := range []func(*testing.T) target{postgresTarget, mariaTarget} {
		tg := open(t)
		t.Run(tg.name, func(t *testing.T) {
			p := prefix(t, tg)
			base, err := runResult(t, "base", nil, nil)
			require.NoError(t, err)
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				// A sink each, as each process has its own.
				sink, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: p, SpillDir: t.TempDir()})
				require.NoError(t, err)
				require.NoError(t, sink.CreateSchema(context.Background()))
				res := *base
				res.Node = fmt.Sprintf("process-%d", i)
				wg.Go(func() {
					if errs[i] = sink.TestStart(context.Background(), loadtest.RunInfo{RunID: res.RunID, Node: res.Node,
						StartedAt: res.StartedAt, Config: res.Config}); errs[i] == nil {
						errs[i] = sink.Write(context.Background(), &res)
					}
				})
			}
			wg.Wait()
			for i, err := range errs {
				require.NoError(t, err, "process %d", i)
				assertRows(t, tg, p, &loadtest.Result{RunID: base.RunID, Node: fmt.Sprintf("process-%d", i),
					Timeline: base.Timeline, Intervals: base.Intervals, Phases: base.Phases,
					Operations: base.Operations, WarmupOperations: base.WarmupOperations})
			}
		})
	}
}
