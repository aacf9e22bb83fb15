package pool_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/testenv"
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
			assert.Equal(t, pool.KindConnection, pool.Classify(fmt.Errorf("open: %w", derr)))
		})
	}
	for _, c := range []struct {
		name string
		err  error
		want pool.ErrorKind
	}{
		{"deadline", fmt.Errorf("q: %w", context.DeadlineExceeded), pool.KindTimeout},
		{"canceled", fmt.Errorf("q: %w", context.Canceled), pool.KindCanceled},
		{"bad conn", fmt.Errorf("sqlpool: query: %w", driver.ErrBadConn), pool.KindConnection},
		{"conn done", fmt.Errorf("sqlpool: query: %w", sql.ErrConnDone), pool.KindConnection},
		{"eof", fmt.Errorf("read: %w", io.EOF), pool.KindConnection},
		{"unexpected eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), pool.KindConnection},
		{"net closed", fmt.Errorf("read: %w", net.ErrClosed), pool.KindConnection},
		{"net op", fmt.Errorf("q: %w", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("gone")}), pool.KindConnection},
		{"dns", &net.DNSError{Err: "no such host", Name: "db.invalid"}, pool.KindConnection},
		{"i/o deadline", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), pool.KindTimeout},
		{"coded", fmt.Errorf("q: %w", codedError(1)), pool.KindSQL},
		{"terminated backend", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, pool.KindConnection},
		{"connection exception", &pgconn.PgError{Severity: "FATAL", Code: "08006"}, pool.KindConnection},
		{"statement timeout", &pgconn.PgError{Severity: "ERROR", Code: "57014"}, pool.KindTimeout},
		{"unique violation", &pgconn.PgError{Severity: "ERROR", Code: "23505"}, pool.KindSQL},
		{"warm-up: the first error decides", &pool.WarmError{Errs: []error{io.EOF, context.Canceled}}, pool.KindConnection},
		{"other", errors.New("boom"), pool.KindOther},
		{"nil", nil, pool.KindOther},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, pool.Classify(c.err))
		})
	}
}

// codedError is a driver error with a result code of a named integer
// type, as SQLite drivers have.
type codedError uint8

func (e codedError) Error() string    { return "coded" }
func (e codedError) Code() codedError { return e }

// TestClassifyRealDriverErrors: errors as pgx, pgx's database/sql driver
// and SQLite return them from real connections.
func TestClassifyRealDriverErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "c.db"))
		require.NoError(t, err)
		defer db.Close()
		_, err = db.ExecContext(ctx, "SELECT * FROM missing")
		require.Error(t, err)
		assert.Equal(t, pool.KindSQL, pool.Classify(err))
	})
	dsn := testenv.Postgres(t)
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer admin.Close(ctx)
	connect := func(t *testing.T) *pgx.Conn {
		c, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(func() {
			c.Close(ctx)
			// A query that met its deadline closes its connection in a
			// goroutine of pgx's: wait for it, so that none outlives the test.
			<-c.PgConn().CleanupDone()
		})
		return c
	}
	t.Run("pgx statement", func(t *testing.T) {
		_, err := connect(t).Exec(ctx, "SELECT * FROM loadtest_missing_table")
		require.Error(t, err)
		assert.Equal(t, pool.KindSQL, pool.Classify(err))
	})
	t.Run("pgx terminated", func(t *testing.T) {
		c := connect(t)
		_, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", c.PgConn().PID())
		require.NoError(t, err)
		_, err = c.Exec(ctx, "SELECT 1")
		require.Error(t, err)
		assert.Equal(t, pool.KindConnection, pool.Classify(err), "%v", err)
		_, err = c.Exec(ctx, "SELECT 1") // the connection is closed now
		require.Error(t, err)
		assert.Equal(t, pool.KindConnection, pool.Classify(err), "%v", err)
	})
	t.Run("pgx closed", func(t *testing.T) {
		c := connect(t)
		require.NoError(t, c.Close(ctx))
		_, err := c.Exec(ctx, "SELECT 1")
		require.Error(t, err)
		assert.Equal(t, pool.KindConnection, pool.Classify(err), "%v", err)
	})
	t.Run("pgx statement_timeout", func(t *testing.T) {
		c := connect(t)
		_, err := c.Exec(ctx, "SET statement_timeout = '10ms'")
		require.NoError(t, err)
		_, err = c.Exec(ctx, "SELECT pg_sleep(1)")
		require.Error(t, err)
		assert.Equal(t, pool.KindTimeout, pool.Classify(err), "%v", err)
	})
	t.Run("pgx deadline", func(t *testing.T) {
		c := connect(t)
		dctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		_, err := c.Exec(dctx, "SELECT pg_sleep(1)")
		require.Error(t, err)
		assert.Equal(t, pool.KindTimeout, pool.Classify(err), "%v", err)
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
		assert.Equal(t, pool.KindConnection, pool.Classify(err), "%v", err)
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
			assert.Equal(t, pool.KindConnection, pool.Classify(err), "%v", err)
		}
	})
}

func TestErrorKindNames(t *testing.T) {
	var names []string
	for k := range pool.NumKinds {
		names = append(names, k.String())
	}
	assert.Equal(t, []string{"other", "timeout", "canceled", "connection", "sql"}, names)
	assert.Equal(t, "unknown", pool.NumKinds.String())
}

func TestSQLStateKind(t *testing.T) {
	for state, want := range map[string]pool.ErrorKind{
		"08006": pool.KindConnection, "08001": pool.KindConnection, "57P01": pool.KindConnection,
		"57P02": pool.KindConnection, "57P03": pool.KindConnection, "57014": pool.KindTimeout,
		"42S02": pool.KindSQL, "23505": pool.KindSQL, "": pool.KindSQL,
	} {
		assert.Equal(t, want, pool.SQLStateKind(state), "%q", state)
	}
}
