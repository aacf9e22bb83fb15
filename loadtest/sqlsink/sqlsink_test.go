package sqlsink_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
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

func assertRows(t *testing.T, tg target, prefix string, res *loadtest.Result) {
	t.Helper()
	for table, want := range rowsOf(res) {
		assert.Equal(t, want, count(t, tg, prefix+table, res.RunID, res.Node), "%s rows of %s/%s", table, res.RunID, res.Node)
	}
}

func TestSinkSQLite(t *testing.T)   { testSink(t, target{"sqlite", sqliteDB(t), dialect.SQLite}) }
func TestSinkPostgres(t *testing.T) { testSink(t, postgresTarget(t)) }
func TestSinkMariaDB(t *testing.T)  { testSink(t, mariaTarget(t)) }

func testSink(t *testing.T, tg target) {
	ctx := context.Background()
	p := prefix(t, tg)
	sink, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: p, BatchRows: 7, SpillDir: t.TempDir()})
	require.NoError(t, err)

	// A real run writes its test start in the background, then its result.
	var startStatus string
	res, err := runResult(t, "node-a", []loadtest.Sink{sink}, loadtest.Hooks{
		MeasureStart: func(loadtest.PhaseStartInfo) {
			// By now the background test start has long been written.
			q, _ := tg.d.Ident(p + sqlsink.TestResults)
			_ = tg.db.QueryRow("SELECT status FROM " + q).Scan(&startStatus)
		},
	})
	require.NoError(t, err)
	require.NotEmpty(t, res.Intervals)
	require.NotNil(t, res.Phases.Measure.Histogram)
	assert.Equal(t, sqlsink.StatusStarted, startStatus, "TestStart wrote the row before the result")
	assertRows(t, tg, p, res)

	results, _ := tg.d.Ident(p + sqlsink.TestResults)
	var status string
	var ops, workers int64
	var config string
	require.NoError(t, tg.db.QueryRow("SELECT status, measure_ops, workers, config FROM "+results).Scan(&status, &ops, &workers, &config))
	assert.Equal(t, sqlsink.StatusDone, status)
	assert.Equal(t, res.Phases.Measure.Ops, ops)
	assert.EqualValues(t, 3, workers)
	assert.Contains(t, config, `"interval_ns":50000000`)

	timeline, _ := tg.d.Ident(p + sqlsink.Timeline)
	var firsts int
	require.NoError(t, tg.db.QueryRow("SELECT count(*) FROM "+timeline+" WHERE phase = 'query.first' AND worker >= 0").Scan(&firsts))
	assert.Equal(t, len(res.Timeline.Find(timing.QueryFirst)), firsts)

	// Writing the same result again leaves one copy.
	require.NoError(t, sink.Write(ctx, res))
	assertRows(t, tg, p, res)

	// A second node of the same run: the histograms merge exactly.
	res2, err := runResult(t, "node-b", []loadtest.Sink{sink}, loadtest.Hooks{})
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
	tg := target{"sqlite", sqliteDB(t), dialect.SQLite}
	p := prefix(t, tg)
	sink, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: p, SpillDir: t.TempDir(), Timeout: 300 * time.Millisecond})
	require.NoError(t, err)

	conn, err := tg.db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	locked := false
	res, err := runResult(t, "locked", []loadtest.Sink{sink}, loadtest.Hooks{
		MeasureStart: func(loadtest.PhaseStartInfo) {
			_, lerr := conn.ExecContext(ctx, "BEGIN EXCLUSIVE")
			locked = lerr == nil
		},
	})
	require.True(t, locked)
	require.Error(t, err)
	_, uerr := conn.ExecContext(ctx, "ROLLBACK")
	require.NoError(t, uerr)
	assert.Equal(t, 0, count(t, tg, p+sqlsink.Timeline, res.RunID, res.Node), "nothing was written while locked")
	loadSpill(t, tg, p, res, err)
}

// PostgreSQL reached through a proxy that is cut off in the middle of the
// run and restored after it: every row arrives in the end.
func TestSpillWhenPostgresGoesAway(t *testing.T) {
	dsn := testenv.Postgres(t)
	direct := postgresTarget(t)
	px := newProxy(t, "127.0.0.1:5432")
	proxied := strings.Replace(dsn, "127.0.0.1:5432", px.addr, 1)
	require.NotEqual(t, dsn, proxied, "the DSN goes through the proxy")
	tg := target{"postgres", openPgx(t, proxied), dialect.Postgres}
	p := prefix(t, direct)

	sink, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: p, SpillDir: t.TempDir(), Timeout: 5 * time.Second})
	require.NoError(t, err)
	res, err := runResult(t, "cut-off", []loadtest.Sink{sink}, loadtest.Hooks{
		MeasureStart: func(loadtest.PhaseStartInfo) { px.stop() },
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "saved to")
	// The test start got through before the cut; the result did not.
	assert.Equal(t, 1, count(t, direct, p+sqlsink.TestResults, res.RunID, res.Node))
	assert.Equal(t, 0, count(t, direct, p+sqlsink.Timeline, res.RunID, res.Node))

	px.restart(t)
	loadSpill(t, tg, p, res, err)
	assertRows(t, direct, p, res)
	var status string
	q, _ := direct.d.Ident(p + sqlsink.TestResults)
	require.NoError(t, direct.db.QueryRow(fmt.Sprintf("SELECT status FROM %s", q)).Scan(&status))
	assert.Equal(t, sqlsink.StatusDone, status)
}

func TestLoadFileRefusesBadFile(t *testing.T) {
	tg := target{"sqlite", sqliteDB(t), dialect.SQLite}
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
	tg := target{"sqlite", sqliteDB(t), dialect.SQLite}
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
