package sqlcoord_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/timing"
)

// childEnv, when set, makes the test binary run one worker process (see
// childMain) instead of the tests.
const childEnv = "SQLCOORD_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain())
	}
	goleak.VerifyTestMain(m)
}

// backend is a database the tests run against.
type backend struct {
	name, driver, dsn string
	d                 dialect.Dialect
}

// forEachBackend runs fn on SQLite, and on PostgreSQL and MariaDB when they
// are reachable (testenv skips or fails the subtest otherwise).
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) {
		dsn := "file:" + t.TempDir() + "/coord.db?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)"
		fn(t, backend{"sqlite", "sqlite", dsn, dialect.SQLite})
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, backend{"postgres", "pgx", testenv.Postgres(t), dialect.Postgres})
	})
	t.Run("mariadb", func(t *testing.T) {
		fn(t, backend{"mariadb", "mysql", testenv.MySQL(t), dialect.MySQL})
	})
}

func sqliteBackend(t *testing.T) backend {
	dsn := "file:" + t.TempDir() + "/coord.db?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)"
	return backend{"sqlite", "sqlite", dsn, dialect.SQLite}
}

func postgresBackend(t *testing.T) backend {
	return backend{"postgres", "pgx", testenv.Postgres(t), dialect.Postgres}
}

// open opens b and closes it when the test ends.
func open(t *testing.T, b backend) *sql.DB {
	t.Helper()
	db, err := sql.Open(b.driver, b.dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, db.PingContext(context.Background()))
	return db
}

// tables returns Tables with a prefix unique to the test, dropped at its end.
func tables(t *testing.T, b backend, db *sql.DB) sqlcoord.Tables {
	t.Helper()
	var r [4]byte
	_, _ = rand.Read(r[:])
	tb := sqlcoord.Tables{DB: db, Dialect: b.d, Prefix: "slt_" + hex.EncodeToString(r[:]) + "_"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A fresh connection: db may be closed or broken by the test.
		db2, err := sql.Open(b.driver, b.dsn)
		if err == nil {
			tb2 := tb
			tb2.DB = db2
			if err := tb2.Drop(ctx); err != nil {
				t.Logf("dropping the test tables: %v", err)
			}
			db2.Close()
		}
	})
	return tb
}

// fast are worker options with short intervals, for quick tests.
func fast(tb sqlcoord.Tables, run string) sqlcoord.Options {
	return sqlcoord.Options{Tables: tb, RunID: run, Heartbeat: 20 * time.Millisecond, Poll: 10 * time.Millisecond, WaitTimeout: 30 * time.Second}
}

func orchestrator(t *testing.T, tb sqlcoord.Tables, run string, mod ...func(*sqlcoord.OrchestratorOptions)) *sqlcoord.Orchestrator {
	t.Helper()
	// A generous missed-beat budget: the machine is shared and noisy.
	opts := sqlcoord.OrchestratorOptions{Tables: tb, RunID: run, Heartbeat: 20 * time.Millisecond, MissedBeats: 25, Poll: 10 * time.Millisecond}
	for _, f := range mod {
		f(&opts)
	}
	o, err := sqlcoord.NewOrchestrator(context.Background(), opts)
	require.NoError(t, err)
	return o
}

// childMain is one worker process: it joins, waits for the start, prints
// the start instant, waits for a stop event, stores a minimal result and
// leaves. Exit codes: 0 done, 2 error, 3 aborted.
func childMain() int {
	env := os.Getenv
	if env("SQLCOORD_MODE") == "runner" {
		return runnerChildMain()
	}
	db, err := sql.Open(env("SQLCOORD_DRIVER"), env("SQLCOORD_DSN"))
	if err != nil {
		fmt.Println("open:", err)
		return 2
	}
	defer db.Close()
	d, err := dialect.ForDriver(env("SQLCOORD_DRIVER"))
	if err != nil {
		fmt.Println("dialect:", err)
		return 2
	}
	run, id := env("SQLCOORD_RUN"), env("SQLCOORD_WORKER")
	opts := fast(sqlcoord.Tables{DB: db, Dialect: d, Prefix: env("SQLCOORD_PREFIX")}, run)
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := sqlcoord.New(opts)
	if err != nil {
		fmt.Println("new:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := c.Join(ctx, coordinate.Worker{ID: id, Concurrency: 1})
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
	fmt.Printf("at %d\n", sig.At.UnixNano())
	for e := range sig.Events {
		if e.Kind == coordinate.EventStop {
			break
		}
	}
	off, bound := m.(coordinate.Clocked).ClockOffset()
	res := &loadtest.Result{RunID: run, Node: id, StartedAt: time.Now(),
		Timeline: timing.Timeline{Node: id, ClockOffset: off, ClockError: bound,
			Marks: []timing.Mark{{Phase: timing.CoordStart, Worker: timing.Process}}}}
	if err := c.Sink().Write(ctx, res); err != nil {
		fmt.Println("write:", err)
		return 2
	}
	if err := m.Leave(ctx, nil); err != nil {
		fmt.Println("leave:", err)
		return 2
	}
	return 0
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for slog output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startLogged joins one worker, whose coordinator logs to the returned
// buffer, to run on tables tb, and starts the run through o: the setup of
// the tests that then write rows behind the orchestrator's back.
func startLogged(t *testing.T, tb sqlcoord.Tables, o *sqlcoord.Orchestrator, run string) (coordinate.Member, coordinate.Signal, *syncBuffer) {
	t.Helper()
	logs := new(syncBuffer)
	opts := fast(tb, run)
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	c, err := sqlcoord.New(opts)
	require.NoError(t, err)
	members, sigs, errs, wg := joinAll(t, c, 1)
	_, err = o.StartWhenReady(context.Background(), coordinate.Readiness{Workers: 1}, 0)
	require.NoError(t, err)
	wg.Wait()
	require.NoError(t, errs[0])
	return members[0], sigs[0], logs
}
