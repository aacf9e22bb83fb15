package loadtest_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/pgxnative"
	"github.com/startline/startline/pool/sqlpool"
	"github.com/startline/startline/profile"
	"github.com/startline/startline/timing"
)

// exactlyOne fails unless the query returned one row: every id drawn from
// the profiled range must exist, so an error here means the profile or the
// parameter plumbing is wrong.
func exactlyOne(name, query string, table string) loadtest.Operation {
	return loadtest.Operation{Name: name, Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
		id := w.Profile().Table(table).RandomID(w.Rand())
		n, err := w.Session().Query(ctx, query, id)
		if err == nil && n != 1 {
			err = fmt.Errorf("id %d: %d rows", id, n)
		}
		return err
	}}
}

// runOnDB runs a short coordinated test of a real database through every
// phase and checks what a user relies on.
func runOnDB(t *testing.T, p pool.Pool, prof profile.Profiler, table, query string) {
	t.Helper()
	local := coordinate.NewLocal(coordinate.LocalOptions{Heartbeat: 20 * time.Millisecond})
	r, err := loadtest.New(loadtest.Config{
		Pool: p, Profiler: prof, Coordinator: local,
		Workers: 4, Conns: 6,
		Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond,
		Workload: loadtest.Workload{
			Tables:     []profile.TableSpec{{Table: table, Key: "id", Columns: []string{"name"}, Sample: 10}},
			Operations: []loadtest.Operation{exactlyOne("by_id", query, table)},
		},
	})
	require.NoError(t, err)
	go func() {
		_, _ = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: 1}, 10*time.Millisecond)
	}()
	res, err := r.Run(context.Background())
	require.NoError(t, err)

	m := res.Phases.Measure
	assert.Greater(t, m.Ops, int64(0))
	assert.Zero(t, m.Errors, "errors: %v", m.ErrorSamples)
	assert.Zero(t, res.Phases.Warmup.Errors, "errors: %v", res.Phases.Warmup.ErrorSamples)
	assert.Greater(t, m.Latency.P50, time.Duration(0))
	assert.LessOrEqual(t, m.Latency.P50, m.Latency.P99)
	assert.LessOrEqual(t, m.Latency.P99, m.Latency.Max)
	assert.Len(t, res.Timeline.Find(timing.PoolConn), 6)
	assert.Len(t, res.Timeline.Find(timing.QueryFirst), 4)
	s := timing.Summarize(res.Timeline)
	require.NotNil(t, s.Signal)
	assert.Equal(t, 4, s.FirstQuery.N)
	assert.GreaterOrEqual(t, s.FirstQuery.Min, time.Duration(0), "no first query before the start instant")
}

func seedItems(t *testing.T, db *sql.DB, table string, n int) {
	t.Helper()
	_, err := db.Exec(fmt.Sprintf(`CREATE TABLE %s (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`, table))
	require.NoError(t, err)
	_, err = db.Exec(fmt.Sprintf(`INSERT INTO %s (id, name)
		WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < %d) SELECT i, 'n' || i FROM s`, table, n))
	require.NoError(t, err)
}

func TestRunOnSQLite(t *testing.T) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "t.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	seedItems(t, db, "items", 5000)
	p := sqlpool.New(db, sqlpool.Options{})
	defer p.Close()
	runOnDB(t, p, &profile.SQLProfiler{DB: db, Dialect: dialect.SQLite}, "items", "SELECT name FROM items WHERE id = ?")
}

func TestRunOnPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	table := fmt.Sprintf("loadtest_items_%d", time.Now().UnixNano())
	seedItems(t, db, table, 5000)
	defer db.Exec("DROP TABLE " + table)
	prof := &profile.SQLProfiler{DB: db, Dialect: dialect.Postgres}
	query := "SELECT name FROM " + table + " WHERE id = $1"

	t.Run("pgxnative", func(t *testing.T) {
		p, err := pgxnative.Open(context.Background(), dsn, pgxnative.Options{MaxConns: 8})
		require.NoError(t, err)
		defer p.Close()
		runOnDB(t, p, prof, table, query)
	})
	t.Run("database/sql", func(t *testing.T) {
		sdb, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		p := sqlpool.New(sdb, sqlpool.Options{})
		defer p.Close()
		runOnDB(t, p, prof, table, query)
	})
}
