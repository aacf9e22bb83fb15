package sqlpool_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/pooltest"
	"github.com/startline/startline/pool/sqlpool"
)

const threeRows = "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3"

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "test.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLiteConformance(t *testing.T) {
	for _, o := range []sqlpool.Options{{}, {Shared: true}, {NoPrepare: true}} {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) {
			pooltest.Run(t, func(t *testing.T) pool.Pool {
				return sqlpool.New(openSQLite(t), o)
			}, pooltest.Options{Query: threeRows, Rows: 3, Conns: 6})
		})
	}
}

func TestWarmKeepsConnsIdle(t *testing.T) {
	db := openSQLite(t)
	db.SetConnMaxIdleTime(time.Millisecond) // Warm must lift this
	p := sqlpool.New(db, sqlpool.Options{})
	require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: 12, Parallel: 3}))
	st := db.Stats()
	assert.Equal(t, 12, st.OpenConnections)
	assert.Equal(t, 12, st.Idle, "database/sql keeps only 2 idle by default")

	// database/sql's idle cleaner runs at most once a second.
	time.Sleep(1500 * time.Millisecond)
	st = db.Stats()
	assert.Equal(t, 12, st.Idle, "idle connections closed after Warm")
	assert.Zero(t, st.MaxIdleTimeClosed)

	// A smaller warm-up later does not lower the idle limit.
	require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: 2}))
	assert.Equal(t, 12, db.Stats().Idle)
	require.NoError(t, p.Close())
}

func TestWarmMaxOpenConnsTooLow(t *testing.T) {
	db := openSQLite(t)
	db.SetMaxOpenConns(3)
	p := sqlpool.New(db, sqlpool.Options{})
	err := p.Warm(context.Background(), pool.WarmOptions{Conns: 4})
	require.ErrorIs(t, err, pool.ErrInvalidOptions)
	assert.Contains(t, err.Error(), "WarmOptions.Conns")
	assert.Contains(t, err.Error(), "MaxOpenConns (3)")
	assert.Zero(t, db.Stats().OpenConnections, "nothing opened")
	require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: 3}))
	assert.Equal(t, 3, db.Stats().Idle)
}

func TestWarmDriverError(t *testing.T) {
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "missing", "dir", "test.db"))
	require.NoError(t, err)
	p := sqlpool.New(db, sqlpool.Options{})
	defer p.Close()
	var failed atomic.Int64
	err = p.Warm(context.Background(), pool.WarmOptions{Conns: 3, Parallel: 1, OnConn: func(ci pool.ConnInfo) {
		if ci.Err != nil {
			failed.Add(1)
		}
	}})
	require.Error(t, err)
	var we *pool.WarmError
	require.ErrorAs(t, err, &we)
	assert.Equal(t, 1, we.Failed)
	assert.Equal(t, 2, we.Skipped)
	assert.Contains(t, err.Error(), "1 of 3 connections failed")
	assert.Contains(t, err.Error(), "sqlpool: open")
	assert.EqualValues(t, 1, failed.Load())
}

// countUpTo yields the integers 1..n in SQLite.
const countUpTo = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < ?) SELECT x FROM c"

func TestSessionArgsAndConn(t *testing.T) {
	p := sqlpool.New(openSQLite(t), sqlpool.Options{})
	defer p.Close()
	ps, err := p.Session(context.Background())
	require.NoError(t, err)
	s := ps.(*sqlpool.Session)
	for _, n := range []int64{7, 1, 100} {
		got, err := s.Query(context.Background(), countUpTo, n)
		require.NoError(t, err)
		assert.Equal(t, n, got)
	}
	_, err = s.Query(context.Background(), "SELECT FROM nowhere")
	assert.ErrorContains(t, err, "sqlpool: prepare")

	// The pinned connection is the one queries run on: a temp table made
	// through Conn is visible to Query and to no other connection.
	require.NotNil(t, s.Conn())
	_, err = s.Conn().ExecContext(context.Background(), "CREATE TEMP TABLE mine AS SELECT 1 AS a UNION ALL SELECT 2")
	require.NoError(t, err)
	got, err := s.Query(context.Background(), "SELECT a FROM mine")
	require.NoError(t, err)
	assert.EqualValues(t, 2, got)
	var a int
	require.NoError(t, s.Conn().QueryRowContext(context.Background(), "SELECT max(a) FROM mine").Scan(&a))
	assert.Equal(t, 2, a)
	require.NoError(t, s.Close())
}

func TestSharedSession(t *testing.T) {
	p := sqlpool.New(openSQLite(t), sqlpool.Options{Shared: true})
	defer p.Close()
	s, err := p.Session(context.Background())
	require.NoError(t, err)
	assert.Nil(t, s.(*sqlpool.Session).Conn())
	assert.Zero(t, p.DB().Stats().InUse, "a shared session holds no connection")
	n, err := s.Query(context.Background(), countUpTo, 5)
	require.NoError(t, err)
	assert.EqualValues(t, 5, n)
	require.NoError(t, s.Close())
}

func TestQueryCancelled(t *testing.T) {
	p := sqlpool.New(openSQLite(t), sqlpool.Options{})
	defer p.Close()
	s, err := p.Session(context.Background())
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Query(ctx, threeRows)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestQueryInterrupted cancels a query in flight on SQLite: the driver
// interrupts it and returns its own error, which the session wraps with
// the context's, so that the run's end is not counted as an SQL error.
func TestQueryInterrupted(t *testing.T) {
	p := sqlpool.New(openSQLite(t), sqlpool.Options{})
	defer p.Close()
	s, err := p.Session(context.Background())
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	stop := time.AfterFunc(20*time.Millisecond, cancel)
	defer stop.Stop()
	_, err = s.Query(ctx, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, pool.KindCanceled, pool.Classify(err))
	n, err := s.Query(context.Background(), threeRows)
	require.NoError(t, err, "the session works after the interrupt")
	assert.EqualValues(t, 3, n)
}

// pgServer makes sqlpool pools over pgx stdlib, each with its own
// application_name, and counts their connections in pg_stat_activity.
type pgServer struct {
	dsn   string
	admin *sql.DB
	mu    sync.Mutex
	names map[pool.Pool]string
	seq   int
}

func newPGServer(t *testing.T) *pgServer {
	dsn := testenv.Postgres(t)
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	return &pgServer{dsn: dsn, admin: admin, names: map[pool.Pool]string{}}
}

func (s *pgServer) newPool(t *testing.T, opts sqlpool.Options) pool.Pool {
	cfg, err := pgx.ParseConfig(s.dsn)
	require.NoError(t, err)
	s.mu.Lock()
	s.seq++
	name := fmt.Sprintf("startline_sqlpool_%d_%d", time.Now().UnixNano(), s.seq)
	cfg.RuntimeParams["application_name"] = name
	p := sqlpool.New(stdlib.OpenDB(*cfg), opts)
	s.names[p] = name
	s.mu.Unlock()
	return p
}

func (s *pgServer) serverConns(t *testing.T, p pool.Pool) int {
	s.mu.Lock()
	name := s.names[p]
	s.mu.Unlock()
	var n int
	require.NoError(t, s.admin.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name).Scan(&n))
	return n
}

func TestPostgresConformance(t *testing.T) {
	srv := newPGServer(t)
	for _, o := range []sqlpool.Options{{}, {Shared: true}} {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) {
			pooltest.Run(t, func(t *testing.T) pool.Pool { return srv.newPool(t, o) },
				pooltest.Options{Query: threeRows, Rows: 3, Conns: 8, ServerConns: srv.serverConns})
		})
	}
}

func TestPostgresWarm(t *testing.T) {
	srv := newPGServer(t)
	p := srv.newPool(t, sqlpool.Options{})
	defer p.Close()
	const n = 10
	lat := make([]time.Duration, n)
	require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: n, Parallel: 4, OnConn: func(ci pool.ConnInfo) {
		lat[ci.Index] = ci.End.Sub(ci.Start)
	}}))
	for i, d := range lat {
		assert.Positive(t, d, "open latency of connection %d", i)
	}
	assert.Equal(t, n, srv.serverConns(t, p))

	s, err := p.Session(context.Background())
	require.NoError(t, err)
	defer s.Close()
	got, err := s.Query(context.Background(), "SELECT generate_series(1, $1::int)", 42)
	require.NoError(t, err)
	assert.EqualValues(t, 42, got)
	assert.Equal(t, n, srv.serverConns(t, p), "a session reuses a warm connection")
}

// TestCloseAfterCancelledQuery cancels a query in flight, as an abort does
// to every worker's operation: pgx closes the connection under the
// session. Closing the session afterwards is not an error: its connection
// is already closed, which is what Close was to do.
func TestCloseAfterCancelledQuery(t *testing.T) {
	srv := newPGServer(t)
	p := srv.newPool(t, sqlpool.Options{})
	defer p.Close()
	s, err := p.Session(context.Background())
	require.NoError(t, err)
	// Prepared first, so that Close has a statement to close on the dead
	// connection.
	_, err = s.Query(context.Background(), "SELECT 1")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Query(ctx, "SELECT pg_sleep(30)")
		done <- err
	}()
	require.Eventually(t, func() bool {
		var n int
		_ = srv.admin.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'").Scan(&n)
		return n > 0
	}, 30*time.Second, 5*time.Millisecond, "the query is running")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.NoError(t, s.Close())
	assert.NoError(t, s.Close(), "and again")
}
