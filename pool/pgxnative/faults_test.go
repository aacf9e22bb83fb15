package pgxnative_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/faults"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/pgxnative"
)

func backendPID(t *testing.T, s *pgxnative.Session) uint32 {
	t.Helper()
	require.NotNil(t, s.Conn())
	return s.Conn().PgConn().PID()
}

// TestSessionReplacesADeadConnection: the server terminates a session's
// pinned connection, or the network resets it. The query that finds out
// fails and gives the connection back; the next acquires a fresh one.
// A statement error keeps the connection.
func TestSessionReplacesADeadConnection(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer admin.Close(ctx)

	t.Run("terminated", func(t *testing.T) {
		p, err := pgxnative.Open(ctx, dsn, pgxnative.Options{MaxConns: 2})
		require.NoError(t, err)
		defer p.Close()
		ps, err := p.Session(ctx)
		require.NoError(t, err)
		defer ps.Close()
		s := ps.(*pgxnative.Session)
		pid := backendPID(t, s)
		_, err = admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
		require.NoError(t, err)
		_, err = s.Query(ctx, "SELECT $1::int", 1)
		require.Error(t, err)
		assert.Nil(t, s.Conn(), "the dead connection is given back")
		n, err := s.Query(ctx, "SELECT $1::int", 2)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		assert.NotEqual(t, pid, backendPID(t, s))
		assert.Equal(t, int32(1), p.Pgx().Stat().AcquiredConns(), "one connection pinned, the dead one destroyed")
	})
	t.Run("reset", func(t *testing.T) {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		proxy := faults.Start(t, u.Host)
		u.Host = proxy.Addr()
		p, err := pgxnative.Open(ctx, u.String(), pgxnative.Options{MaxConns: 2})
		require.NoError(t, err)
		defer p.Close()
		ps, err := p.Session(ctx)
		require.NoError(t, err)
		defer ps.Close()
		proxy.Reset(t)
		_, err = ps.Query(ctx, "SELECT 1")
		require.Error(t, err)
		_, err = ps.Query(ctx, "SELECT 1")
		require.Error(t, err, "reconnecting fails while the network resets")
		proxy.Clear()
		_, err = ps.Query(ctx, "SELECT 1")
		require.NoError(t, err, "recovered once the network is back")
	})
	t.Run("a statement error keeps the connection", func(t *testing.T) {
		p, err := pgxnative.Open(ctx, dsn, pgxnative.Options{MaxConns: 2})
		require.NoError(t, err)
		defer p.Close()
		ps, err := p.Session(ctx)
		require.NoError(t, err)
		defer ps.Close()
		s := ps.(*pgxnative.Session)
		pid := backendPID(t, s)
		_, err = s.Query(ctx, "SELECT 1/0")
		require.Error(t, err)
		assert.Equal(t, pid, backendPID(t, s))
	})
	t.Run("closed", func(t *testing.T) {
		p, err := pgxnative.Open(ctx, dsn, pgxnative.Options{MaxConns: 2})
		require.NoError(t, err)
		defer p.Close()
		ps, err := p.Session(ctx)
		require.NoError(t, err)
		require.NoError(t, ps.Close())
		_, err = ps.Query(ctx, "SELECT 1")
		assert.ErrorIs(t, err, pool.ErrClosed)
	})
}
