package faults_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/internal/faults"
	"github.com/startline/startline/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// through returns dsn with its host:port replaced by addr.
func through(t *testing.T, dsn, addr string) string {
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.Host = addr
	return u.String()
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func ping(c *pgx.Conn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var one int
	return c.QueryRow(ctx, "SELECT 1").Scan(&one)
}

func TestFaultsOnPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	p := faults.Start(t, u.Host)
	dsn = through(t, dsn, p.Addr())

	c := connect(t, dsn)
	require.NoError(t, ping(c, 5*time.Second), "a clean proxy passes queries")

	t.Run("latency", func(t *testing.T) {
		p.Latency(t, 100*time.Millisecond, 0)
		defer p.Clear()
		start := time.Now()
		require.NoError(t, ping(c, 5*time.Second))
		assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond, "the latency is added")
	})
	t.Run("latency each way", func(t *testing.T) {
		p.Latency(t, 60*time.Millisecond, 0)
		p.LatencyUp(t, 60*time.Millisecond, 0)
		defer p.Clear()
		start := time.Now()
		require.NoError(t, ping(c, 5*time.Second))
		assert.GreaterOrEqual(t, time.Since(start), 120*time.Millisecond, "the latency is added both ways")
	})
	t.Run("stall", func(t *testing.T) {
		p.Stall(t)
		err := ping(c, 200*time.Millisecond)
		require.Error(t, err)
		assert.True(t, errors.Is(err, context.DeadlineExceeded) || pgconnTimeout(err), "got %v", err)
		p.Clear()
	})
	t.Run("reset", func(t *testing.T) {
		c := connect(t, dsn)
		p.Reset(t)
		defer p.Clear()
		require.Error(t, ping(c, 5*time.Second), "a reset connection fails its query")
	})
	t.Run("cut and restore", func(t *testing.T) {
		c := connect(t, dsn)
		p.Cut()
		require.Error(t, ping(c, 5*time.Second), "a cut connection fails")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := pgx.Connect(ctx, dsn)
		require.Error(t, err, "new connections are refused while cut")
		p.Restore(t)
		c2 := connect(t, dsn)
		require.NoError(t, ping(c2, 5*time.Second), "restored")
	})
}

func pgconnTimeout(err error) bool {
	var to interface{ Timeout() bool }
	return errors.As(err, &to) && to.Timeout()
}
