package sqlsink_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/snowflakedb/gosnowflake"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sinktest"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
	"github.com/startline/startline/pool/sqlpool"
	"github.com/startline/startline/timing"
)

// target is a database the sink writes to, in its dialect.
type target struct {
	name string
	db   *sql.DB
	d    dialect.Dialect
}

func sqliteDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "results.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func sqliteTarget(t *testing.T) target { return target{"sqlite", sqliteDB(t), dialect.SQLite} }

func postgresTarget(t *testing.T) target {
	return target{"postgres", openPgx(t, testenv.Postgres(t)), dialect.Postgres}
}

func openPgx(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func mariaTarget(t *testing.T) target {
	dsn := testenv.MySQL(t)
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return target{"mariadb", db, dialect.MySQL}
}

// snowflakeTarget is the local Snowflake-protocol server, reached through
// gosnowflake and database/sql as an account would be.
func snowflakeTarget(t *testing.T) target {
	t.Helper()
	srv := snowflaketest.New(snowflaketest.Options{})
	t.Cleanup(srv.Close)
	cfg := srv.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)
	cfg.LoginTimeout = 10 * time.Second // logins of concurrent subtests on a loaded machine
	db := sql.OpenDB(gosnowflake.NewConnector(gosnowflake.SnowflakeDriver{}, *cfg))
	t.Cleanup(func() { db.Close() })
	return target{"snowflake", db, dialect.Snowflake}
}

var prefixes atomic.Int64

// prefix returns a table prefix no other test uses, and drops its tables
// when t ends.
func prefix(t *testing.T, tg target) string {
	t.Helper()
	p := fmt.Sprintf("sl_test_%d_%d_", time.Now().UnixNano()%1e9, prefixes.Add(1))
	t.Cleanup(func() {
		require.NoError(t, sqlsink.DropTables(context.Background(), tg.db, tg.d, p))
	})
	return p
}

// ident quotes name for tg's dialect.
func (tg target) ident(t *testing.T, name string) string {
	t.Helper()
	q, err := tg.d.Ident(name)
	require.NoError(t, err)
	return q
}

// harness is the conformance suite's harness for sinks on tg: each subtest
// gets a sink with tables of its own, and reads back what is in them.
func harness(tg target) sinktest.Harness {
	var mu sync.Mutex
	prefixOf := map[loadtest.Sink]string{}
	return sinktest.Harness{
		New: func(t *testing.T) loadtest.Sink {
			p := prefix(t, tg)
			s, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: p, BatchRows: 7, SpillDir: t.TempDir()})
			require.NoError(t, err)
			mu.Lock()
			prefixOf[s] = p
			mu.Unlock()
			return s
		},
		Read: func(t *testing.T, s loadtest.Sink, runID, node string) []sinktest.Record {
			mu.Lock()
			p := prefixOf[s]
			mu.Unlock()
			return tg.read(t, p, runID, node)
		},
		RecordsTestStart: true,
		Concurrent:       true,
	}
}

// read reads back what the tables with prefix p hold of runID on node.
func (tg target) read(t *testing.T, p, runID, node string) []sinktest.Record {
	t.Helper()
	q := func(name string) string { return tg.ident(t, name) }
	where := " WHERE " + q("run_id") + " = ? AND " + q("node") + " = ?"
	query := func(sql string, args ...any) *sql.Rows {
		t.Helper()
		rows, err := tg.db.Query(tg.d.Rebind(sql), append([]any{runID, node}, args...)...)
		require.NoError(t, err, sql)
		t.Cleanup(func() { rows.Close() })
		return rows
	}
	var out []sinktest.Record
	rows := query("SELECT " + q("status") + ", " + q("error") + ", " + q("stopped") + ", " + q("measure_ops") + ", " +
		q("measure_errors") + " FROM " + q(p+sqlsink.TestResults) + where)
	for rows.Next() {
		rec := sinktest.Record{RunID: runID, Node: node, Operations: map[string]int64{}}
		var status string
		var errText, stopped sql.NullString
		require.NoError(t, rows.Scan(&status, &errText, &stopped, &rec.Ops, &rec.Errors))
		rec.Finished, rec.Error, rec.Stopped = status != sqlsink.StatusStarted, errText.String, stopped.String
		if rec.Finished && (status == sqlsink.StatusFailed) != (rec.Error != "") {
			t.Errorf("status %q with error %q", status, rec.Error)
		}
		out = append(out, rec)
	}
	require.NoError(t, rows.Err())
	if len(out) != 1 || !out[0].Finished {
		return out
	}
	rec := &out[0]

	ivs := query("SELECT count(*) FROM "+q(p+sqlsink.Intervals)+where+" AND "+q("operation")+" = ?", "")
	require.True(t, ivs.Next())
	require.NoError(t, ivs.Scan(&rec.Intervals))
	ops := query("SELECT "+q("operation")+", SUM("+q("ops")+") FROM "+q(p+sqlsink.Intervals)+where+
		" AND "+q("phase")+" = ? AND "+q("operation")+" <> ? GROUP BY "+q("operation"), string(timing.Measure), "")
	for ops.Next() {
		var name string
		var n int64
		require.NoError(t, ops.Scan(&name, &n))
		rec.Operations[name] = n
	}
	require.NoError(t, ops.Err())
	hist := query("SELECT "+q("latencies")+" FROM "+q(p+sqlsink.Histograms)+where+
		" AND "+q("phase")+" = ? AND "+q("operation")+" = ?", string(timing.Measure), "")
	if hist.Next() {
		require.NoError(t, hist.Scan(&rec.Latencies))
	}
	require.NoError(t, hist.Err())
	marks := query("SELECT " + q("mark_node") + ", " + q("phase") + ", " + q("worker") + ", " + q("start_ns") + ", " +
		q("end_ns") + ", " + q("error") + ", " + q("detail") + " FROM " + q(p+sqlsink.Timeline) + where + " ORDER BY " + q("seq"))
	rec.Marks = []timing.Mark{}
	for marks.Next() {
		var m timing.Mark
		var errText, detail sql.NullString
		var start, end int64
		require.NoError(t, marks.Scan(&m.Node, &m.Phase, &m.Worker, &start, &end, &errText, &detail))
		m.Start, m.End, m.Err, m.Detail = time.Duration(start), time.Duration(end), errText.String, detail.String
		rec.Marks = append(rec.Marks, m)
	}
	require.NoError(t, marks.Err())
	return out
}

// spilled reads back the results saved in dir, as the spill path left
// them: one file per Write that could not reach the database.
func spilled(t *testing.T, dir, runID, node string) []sinktest.Record {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "startline-result-*.json"))
	require.NoError(t, err)
	var out []sinktest.Record
	for _, f := range files {
		res, err := loadtest.ReadResultFile(f)
		require.NoError(t, err)
		if res.RunID == runID && res.Node == node {
			out = append(out, sinktest.RecordOf(res))
		}
	}
	return out
}

// isSpill reports whether err is the sink saying that the result went to
// a file instead of the database.
func isSpill(err error) bool { return errors.Is(err, sqlsink.ErrSpilled) }

// runResult runs a short real load test on an SQLite database, with the
// given sinks, calls atMeasure when the measured window begins, and
// returns its result and error.
func runResult(t *testing.T, node string, sinks []loadtest.Sink, atMeasure func()) (*loadtest.Result, error) {
	t.Helper()
	db := sqliteDB(t)
	_, err := db.Exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100)
		INSERT INTO items SELECT i, 'item ' || i FROM n`)
	require.NoError(t, err)
	p := sqlpool.New(db, sqlpool.Options{})
	t.Cleanup(func() { p.Close() })
	var hooks loadtest.Hooks
	if atMeasure != nil {
		hooks.PhaseStart = func(i loadtest.PhaseStartInfo) {
			if i.Phase == timing.Measure {
				atMeasure()
			}
		}
	}
	r, err := loadtest.New(loadtest.Config{
		RunID: "sink-test", Node: node, Pool: p, Workers: 3,
		Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond, Interval: 50 * time.Millisecond,
		Sinks: sinks, Hooks: hooks,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{
			loadtest.QueryOp("one", 3, "SELECT name FROM items WHERE id = 1", nil),
			loadtest.QueryOp("count", 1, "SELECT count(*) FROM items", nil),
		}},
	})
	require.NoError(t, err)
	return r.Run(context.Background())
}

func count(t *testing.T, tg target, table, runID, node string) int {
	t.Helper()
	var n int
	err := tg.db.QueryRow(tg.d.Rebind("SELECT count(*) FROM "+tg.ident(t, table)+" WHERE "+
		tg.ident(t, "run_id")+" = ? AND "+tg.ident(t, "node")+" = ?"), runID, node).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0
	}
	require.NoError(t, err)
	return n
}
