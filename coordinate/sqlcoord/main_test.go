package sqlcoord_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/timing"
)

// childEnv, when set, makes the test binary run one node process (see
// childMain) instead of the tests.
const childEnv = "SQLCOORD_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain())
	}
	goleak.VerifyTestMain(m)
}

// database is one the tests run against.
type database struct {
	name, driver, dsn string
	d                 dialect.Dialect
}

// forEachDatabase runs fn on SQLite, and on PostgreSQL and MariaDB when
// they are reachable (testenv skips or fails the subtest otherwise).
func forEachDatabase(t *testing.T, fn func(t *testing.T, db database)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, sqliteDatabase(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, postgresDatabase(t)) })
	t.Run("mariadb", func(t *testing.T) {
		fn(t, database{"mariadb", "mysql", testenv.MySQL(t), dialect.MySQL})
	})
}

func sqliteDatabase(t *testing.T) database {
	dsn := "file:" + t.TempDir() + "/coord.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	return database{"sqlite", "sqlite3", dsn, dialect.SQLite}
}

func postgresDatabase(t *testing.T) database {
	return database{"postgres", "pgx", testenv.Postgres(t), dialect.Postgres}
}

// open opens db and closes it when the test ends.
func open(t *testing.T, db database) *sql.DB {
	t.Helper()
	h, err := sql.Open(db.driver, db.dsn)
	require.NoError(t, err)
	t.Cleanup(func() { h.Close() })
	require.NoError(t, h.PingContext(context.Background()))
	return h
}

// tables returns Tables with a prefix unique to the test, dropped at its end.
func tables(t *testing.T, db database, h *sql.DB) sqlcoord.Tables {
	t.Helper()
	var r [4]byte
	_, _ = rand.Read(r[:])
	tb := sqlcoord.Tables{DB: h, Dialect: db.d, Prefix: "slt_" + hex.EncodeToString(r[:]) + "_"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A fresh connection: h may be closed or broken by the test.
		h2, err := sql.Open(db.driver, db.dsn)
		if err == nil {
			tb2 := tb
			tb2.DB = h2
			if err := tb2.Drop(ctx); err != nil {
				t.Logf("dropping the test tables: %v", err)
			}
			_ = sqlsink.DropTables(ctx, h2, db.d, tb.Prefix)
			h2.Close()
		}
	})
	return tb
}

var runs atomic.Int64

// runID returns a run id no other test of this process uses.
func runID() string { return fmt.Sprintf("run-%d-%d", os.Getpid(), runs.Add(1)) }

// backend returns a Backend for run on tb.
func backend(t *testing.T, tb sqlcoord.Tables, run string, n sqlcoord.Notifier) *sqlcoord.Backend {
	t.Helper()
	b, err := sqlcoord.New(sqlcoord.Options{Tables: tb, RunID: run, Notifier: n})
	require.NoError(t, err)
	return b
}

// fast are kit options with short intervals, for quick tests.
func fast() coordinate.Options {
	return coordinate.Options{Heartbeat: 20 * time.Millisecond, Poll: 10 * time.Millisecond, WaitTimeout: 30 * time.Second,
		// A generous missed-beat budget: the machine is shared and noisy.
		MissedBeats: 25}
}

// client is a Client over b with opts.
func client(t *testing.T, b coordinate.Backend, opts coordinate.Options) *coordinate.Client {
	t.Helper()
	c, err := coordinate.NewClient(b, opts)
	require.NoError(t, err)
	return c
}

// orchestrator creates the run of b.
func orchestrator(t *testing.T, b coordinate.Backend, mod ...func(*coordinate.Options)) *coordinate.Run {
	t.Helper()
	opts := fast()
	for _, f := range mod {
		f(&opts)
	}
	o, err := coordinate.NewRun(context.Background(), b, opts)
	require.NoError(t, err)
	return o
}

// childMain is one node process: it joins, waits for the start, prints
// the start instant, waits for a stop event, stores a minimal result in a
// results Sink on the same database and leaves. Exit codes: 0 done, 2
// error, 3 aborted.
func childMain() int {
	env := os.Getenv
	if env("SQLCOORD_MODE") == "runner" {
		return runnerChildMain()
	}
	h, err := sql.Open(env("SQLCOORD_DRIVER"), env("SQLCOORD_DSN"))
	if err != nil {
		fmt.Println("open:", err)
		return 2
	}
	defer h.Close()
	d, err := dialect.ForDriver(env("SQLCOORD_DRIVER"))
	if err != nil {
		fmt.Println("dialect:", err)
		return 2
	}
	run, id := env("SQLCOORD_RUN"), env("SQLCOORD_NODE")
	tb := sqlcoord.Tables{DB: h, Dialect: d, Prefix: env("SQLCOORD_PREFIX")}
	b, err := sqlcoord.New(sqlcoord.Options{Tables: tb, RunID: run})
	if err != nil {
		fmt.Println("new:", err)
		return 2
	}
	opts := fast()
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := coordinate.NewClient(b, opts)
	if err != nil {
		fmt.Println("client:", err)
		return 2
	}
	sink, err := sqlsink.New(h, d, sqlsink.Options{Prefix: tb.Prefix, SpillDir: os.TempDir()})
	if err != nil {
		fmt.Println("sink:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := c.Join(ctx, coordinate.Node{ID: id, Concurrency: 1})
	if err != nil {
		fmt.Println("join:", err)
		return 2
	}
	fmt.Println("joined")
	sig, err := m.Wait(ctx)
	if err != nil {
		fmt.Println("wait:", err)
		_ = m.Leave(ctx, err)
		if errors.Is(err, coordinate.ErrAborted) {
			return 3
		}
		return 2
	}
	_, bound := m.(coordinate.Clocked).ClockOffset()
	fmt.Printf("at %d bound %d\n", sig.At.UnixNano(), bound)
	for e := range sig.Events {
		if e.Kind == coordinate.EventStop {
			break
		}
	}
	off, _ := m.(coordinate.Clocked).ClockOffset()
	res := &loadtest.Result{RunID: run, Node: id, StartedAt: time.Now(),
		Timeline: timing.Timeline{Node: id, ClockOffset: off, ClockError: bound,
			Marks: []timing.Mark{{Phase: timing.CoordStart, Worker: timing.Process}}}}
	if err := m.Leave(ctx, nil); err != nil {
		fmt.Println("leave:", err)
		return 2
	}
	if err := sink.Write(ctx, res); err != nil {
		fmt.Println("write:", err)
		return 2
	}
	return 0
}
