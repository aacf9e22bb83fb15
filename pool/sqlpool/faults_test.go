package sqlpool_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/faults"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/pool/sqlpool"
)

// pinnedBackend returns the backend pid behind a session's pinned connection.
func pinnedBackend(t *testing.T, s *sqlpool.Session) int {
	t.Helper()
	var pid int
	require.NoError(t, s.Conn().QueryRowContext(context.Background(), "SELECT pg_backend_pid()").Scan(&pid))
	return pid
}

// TestSessionReplacesADeadConnection: the server terminates a session's
// pinned connection, or the network resets it. The query that finds out
// fails; the next one runs on a fresh connection, with its statements
// prepared again.
func TestSessionReplacesADeadConnection(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx := context.Background()
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer admin.Close()
	for _, opts := range []sqlpool.Options{{}, {NoPrepare: true}} {
		t.Run(fmt.Sprintf("terminated NoPrepare=%v", opts.NoPrepare), func(t *testing.T) {
			db, err := sql.Open("pgx", dsn)
			require.NoError(t, err)
			p := sqlpool.New(db, opts)
			defer p.Close()
			ps, err := p.Session(ctx)
			require.NoError(t, err)
			defer ps.Close()
			s := ps.(*sqlpool.Session)
			_, err = s.Query(ctx, "SELECT $1::int", 1)
			require.NoError(t, err)
			pid := pinnedBackend(t, s)
			_, err = admin.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid)
			require.NoError(t, err)

			_, err = s.Query(ctx, "SELECT $1::int", 2)
			require.Error(t, err, "the query on the dead connection fails")
			assert.Nil(t, s.Conn(), "the dead connection is given up")
			n, err := s.Query(ctx, "SELECT $1::int", 3)
			require.NoError(t, err, "the next query runs on a new connection")
			assert.Equal(t, int64(1), n)
			assert.NotEqual(t, pid, pinnedBackend(t, s))
		})
	}
	t.Run("reset", func(t *testing.T) {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		proxy := faults.Start(t, u.Host)
		u.Host = proxy.Addr()
		db, err := sql.Open("pgx", u.String())
		require.NoError(t, err)
		p := sqlpool.New(db, sqlpool.Options{})
		defer p.Close()
		ps, err := p.Session(ctx)
		require.NoError(t, err)
		defer ps.Close()
		_, err = ps.Query(ctx, "SELECT 1")
		require.NoError(t, err)
		proxy.Reset(t)
		_, err = ps.Query(ctx, "SELECT 1")
		require.Error(t, err)
		// While the network resets every connection, reconnecting fails
		// too, and nothing is pinned.
		_, err = ps.Query(ctx, "SELECT 1")
		require.Error(t, err)
		proxy.Clear()
		_, err = ps.Query(ctx, "SELECT 1")
		require.NoError(t, err, "recovered once the network is back")
	})
	t.Run("a statement error keeps the connection", func(t *testing.T) {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		p := sqlpool.New(db, sqlpool.Options{})
		defer p.Close()
		ps, err := p.Session(ctx)
		require.NoError(t, err)
		defer ps.Close()
		s := ps.(*sqlpool.Session)
		pid := pinnedBackend(t, s)
		_, err = s.Query(ctx, "SELECT 1/0")
		require.Error(t, err)
		assert.Equal(t, pid, pinnedBackend(t, s))
	})
	ctx2, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	require.NoError(t, admin.PingContext(ctx2))
}
