package loadtest_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool"
)

// TestClassifyPlainErrors: the kinds of the errors that Go and
// database/sql themselves produce, wrapped as drivers and pools wrap them.
func TestClassifyPlainErrors(t *testing.T) {
	{
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		_, derr := net.Dial("tcp", addr) // nothing listens: refused
		require.Error(t, derr)
		t.Run("refused", func(t *testing.T) {
			assert.Equal(t, loadtest.KindConnection, loadtest.Classify(fmt.Errorf("open: %w", derr)))
		})
	}
	for _, c := range []struct {
		name string
		err  error
		want loadtest.ErrorKind
	}{
		{"deadline", fmt.Errorf("q: %w", context.DeadlineExceeded), loadtest.KindTimeout},
		{"canceled", fmt.Errorf("q: %w", context.Canceled), loadtest.KindCanceled},
		{"bad conn", fmt.Errorf("sqlpool: query: %w", driver.ErrBadConn), loadtest.KindConnection},
		{"conn done", fmt.Errorf("sqlpool: query: %w", sql.ErrConnDone), loadtest.KindConnection},
		{"eof", fmt.Errorf("read: %w", io.EOF), loadtest.KindConnection},
		{"unexpected eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), loadtest.KindConnection},
		{"net closed", fmt.Errorf("read: %w", net.ErrClosed), loadtest.KindConnection},
		{"terminated backend", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, loadtest.KindConnection},
		{"connection exception", &pgconn.PgError{Severity: "FATAL", Code: "08006"}, loadtest.KindConnection},
		{"statement timeout", &pgconn.PgError{Severity: "ERROR", Code: "57014"}, loadtest.KindTimeout},
		{"unique violation", &pgconn.PgError{Severity: "ERROR", Code: "23505"}, loadtest.KindSQL},
		{"warm-up: the first error decides", &pool.WarmError{Errs: []error{io.EOF, context.Canceled}}, loadtest.KindConnection},
		{"other", errors.New("boom"), loadtest.KindOther},
		{"nil", nil, loadtest.KindOther},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, loadtest.Classify(c.err))
		})
	}
}

// TestClassifyRealDriverErrors: errors as pgx, pgx's database/sql driver
// and SQLite return them from real connections.
func TestClassifyRealDriverErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "c.db"))
		require.NoError(t, err)
		defer db.Close()
		_, err = db.ExecContext(ctx, "SELECT * FROM missing")
		require.Error(t, err)
		assert.Equal(t, loadtest.KindSQL, loadtest.Classify(err))
	})
	dsn := testenv.Postgres(t)
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer admin.Close(ctx)
	connect := func(t *testing.T) *pgx.Conn {
		c, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close(ctx) })
		return c
	}
	t.Run("pgx statement", func(t *testing.T) {
		_, err := connect(t).Exec(ctx, "SELECT * FROM loadtest_missing_table")
		require.Error(t, err)
		assert.Equal(t, loadtest.KindSQL, loadtest.Classify(err))
	})
	t.Run("pgx terminated", func(t *testing.T) {
		c := connect(t)
		_, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", c.PgConn().PID())
		require.NoError(t, err)
		_, err = c.Exec(ctx, "SELECT 1")
		require.Error(t, err)
		assert.Equal(t, loadtest.KindConnection, loadtest.Classify(err), "%v", err)
		_, err = c.Exec(ctx, "SELECT 1") // the connection is closed now
		require.Error(t, err)
		assert.Equal(t, loadtest.KindConnection, loadtest.Classify(err), "%v", err)
	})
	t.Run("pgx closed", func(t *testing.T) {
		c := connect(t)
		require.NoError(t, c.Close(ctx))
		_, err := c.Exec(ctx, "SELECT 1")
		require.Error(t, err)
		assert.Equal(t, loadtest.KindConnection, loadtest.Classify(err), "%v", err)
	})
	t.Run("pgx statement_timeout", func(t *testing.T) {
		c := connect(t)
		_, err := c.Exec(ctx, "SET statement_timeout = '10ms'")
		require.NoError(t, err)
		_, err = c.Exec(ctx, "SELECT pg_sleep(1)")
		require.Error(t, err)
		assert.Equal(t, loadtest.KindTimeout, loadtest.Classify(err), "%v", err)
	})
	t.Run("pgx deadline", func(t *testing.T) {
		c := connect(t)
		dctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		_, err := c.Exec(dctx, "SELECT pg_sleep(1)")
		require.Error(t, err)
		assert.Equal(t, loadtest.KindTimeout, loadtest.Classify(err), "%v", err)
	})
	t.Run("pgx refused", func(t *testing.T) {
		cfg, err := pgx.ParseConfig(dsn)
		require.NoError(t, err)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		cfg.Port = uint16(l.Addr().(*net.TCPAddr).Port)
		require.NoError(t, l.Close())
		_, err = pgx.ConnectConfig(ctx, cfg)
		require.Error(t, err)
		assert.Equal(t, loadtest.KindConnection, loadtest.Classify(err), "%v", err)
	})
	t.Run("database/sql terminated", func(t *testing.T) {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		defer db.Close()
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		var pid int
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid))
		_, err = admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
		require.NoError(t, err)
		for range 3 { // the error, then the driver's ErrBadConn, then sql.ErrConnDone
			_, err = conn.ExecContext(ctx, "SELECT 1")
			require.Error(t, err)
			assert.Equal(t, loadtest.KindConnection, loadtest.Classify(err), "%v", err)
		}
	})
}
