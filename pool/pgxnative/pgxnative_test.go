package pgxnative_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/pgxnative"
	"github.com/startline/startline/pool/pooltest"
)

var seq atomic.Int64

// appName returns an application_name that no other pool uses, so that
// pg_stat_activity tells this pool's connections apart.
func appName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano(), seq.Add(1))
}

// open makes a pool over the test database named by a fresh application_name.
func open(t testing.TB, dsn string, maxConns int32) *pgxnative.Pool {
	t.Helper()
	name := appName("startline_pgxnative")
	p, err := pgxnative.Open(context.Background(), dsn, pgxnative.Options{
		MaxConns: maxConns,
		Config:   func(c *pgxpool.Config) { c.ConnConfig.RuntimeParams["application_name"] = name },
	})
	require.NoError(t, err)
	return p
}

// serverConns counts the server's connections with p's application_name.
func serverConns(t testing.TB, admin *pgx.Conn, p *pgxnative.Pool) int {
	t.Helper()
	var n int
	require.NoError(t, admin.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
		p.Pgx().Config().ConnConfig.RuntimeParams["application_name"]).Scan(&n))
	return n
}

func adminConn(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestConformance(t *testing.T) {
	dsn := testenv.Postgres(t)
	admin := adminConn(t, dsn)
	pooltest.Run(t, func(t *testing.T) pool.Pool { return open(t, dsn, 8) }, pooltest.Options{
		Query: "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3",
		Rows:  3,
		Conns: 8,
		ServerConns: func(t *testing.T, p pool.Pool) int {
			return serverConns(t, admin, p.(*pgxnative.Pool))
		},
	})
}

func TestWarm(t *testing.T) {
	dsn := testenv.Postgres(t)
	admin := adminConn(t, dsn)
	p := open(t, dsn, 12)
	defer p.Close()
	const n = 12
	lat := make([]time.Duration, n)
	require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: n, Parallel: 5, OnConn: func(ci pool.ConnInfo) {
		lat[ci.Index] = ci.End.Sub(ci.Start)
	}}))
	for i, d := range lat {
		assert.Positive(t, d, "open latency of connection %d", i)
	}
	assert.Equal(t, n, serverConns(t, admin, p), "server connections")
	st := p.Pgx().Stat()
	assert.EqualValues(t, n, st.TotalConns())
	assert.EqualValues(t, n, st.IdleConns())
}

func TestWarmMaxConnsTooLow(t *testing.T) {
	dsn := testenv.Postgres(t)
	admin := adminConn(t, dsn)
	p := open(t, dsn, 3)
	defer p.Close()
	err := p.Warm(context.Background(), pool.WarmOptions{Conns: 4})
	require.ErrorIs(t, err, pool.ErrInvalidOptions)
	assert.Contains(t, err.Error(), "WarmOptions.Conns")
	assert.Contains(t, err.Error(), "MaxConns (3)")
	assert.Zero(t, serverConns(t, admin, p), "nothing opened")
}

func TestSessionConnAndArgs(t *testing.T) {
	dsn := testenv.Postgres(t)
	p := open(t, dsn, 2)
	defer p.Close()
	ps, err := p.Session(context.Background())
	require.NoError(t, err)
	s := ps.(*pgxnative.Session)
	for _, n := range []int{5, 0, 1000} {
		got, err := s.Query(context.Background(), "SELECT generate_series(1, $1::int)", n)
		require.NoError(t, err)
		assert.EqualValues(t, n, got)
	}
	// The query was prepared once, in pgx's cache on the pinned connection.
	conn := s.Conn()
	require.NotNil(t, conn)
	var prepared int
	require.NoError(t, conn.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT generate_series(1, $1::int)'").Scan(&prepared))
	assert.Equal(t, 1, prepared)

	var sum int64
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT sum(g) FROM generate_series(1, $1::int) g", 10).Scan(&sum))
	assert.EqualValues(t, 55, sum)

	_, err = s.Query(context.Background(), "SELECT nope FROM nowhere")
	assert.ErrorContains(t, err, "pgxnative: query")
	require.NoError(t, s.Close())
	assert.Nil(t, s.Conn(), "Conn after Close")
}

func TestOpenBadOptions(t *testing.T) {
	_, err := pgxnative.Open(context.Background(), "postgres://u@127.0.0.1/test", pgxnative.Options{MaxConns: -1})
	require.ErrorIs(t, err, pool.ErrInvalidOptions)
	assert.Contains(t, err.Error(), "MaxConns")
}

func TestPasswordNeverInErrors(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	for _, dsn := range []string{
		"postgres://user:" + secret + "@127.0.0.1:notaport/test",
		"postgres://user:" + secret + "@127.0.0.1/test?connect_timeout=abc",
		"host=127.0.0.1 user=user password=" + secret + " connect_timeout=abc",
		"host=127.0.0.1 user=user password='" + secret + "' port=abc",
	} {
		_, err := pgxnative.Open(context.Background(), dsn, pgxnative.Options{})
		require.Error(t, err, dsn)
		assert.NotContains(t, err.Error(), secret)
		assert.Contains(t, err.Error(), "pgxnative: parse DSN")
	}

	// A server that refuses the connection: the Warm error names no password.
	p, err := pgxnative.Open(context.Background(), "postgres://user:"+secret+"@127.0.0.1:1/test?connect_timeout=5", pgxnative.Options{})
	require.NoError(t, err)
	defer p.Close()
	err = p.Warm(context.Background(), pool.WarmOptions{Conns: 1})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	assert.Contains(t, err.Error(), "1 of 1 connections failed")
}

// TestCloseAfterCancelledQuery cancels a query in flight, as an abort does
// to every worker's operation: pgx closes the connection under the
// session. Closing the session afterwards is not an error.
func TestCloseAfterCancelledQuery(t *testing.T) {
	dsn := testenv.Postgres(t)
	admin := adminConn(t, dsn)
	p := open(t, dsn, 2)
	defer p.Close()
	s, err := p.Session(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Query(ctx, "SELECT pg_sleep(30)")
		done <- err
	}()
	require.Eventually(t, func() bool {
		var n int
		_ = admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active' AND application_name = $1",
			p.Pgx().Config().ConnConfig.RuntimeParams["application_name"]).Scan(&n)
		return n > 0
	}, 30*time.Second, 5*time.Millisecond, "the query is running")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.NoError(t, s.Close())
	assert.NoError(t, s.Close(), "and again")
}
