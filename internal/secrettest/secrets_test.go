package secrettest_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/snowflakedb/gosnowflake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/internal/secrettest"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/report"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/pgxnative"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
	"github.com/startline/startline/pool/sqlpool"
	"github.com/startline/startline/timing"
	"github.com/startline/startline/timing/otelexport"
)

// outputs are everything a run writes, for scanning.
type outputs struct {
	logger  *slog.Logger
	logs    *secrettest.Buffer
	json    bytes.Buffer
	text    bytes.Buffer
	results *sql.DB // the sqlsink tables, on SQLite
	sink    *sqlsink.Sink
}

func newOutputs(t *testing.T) *outputs {
	t.Helper()
	o := new(outputs)
	o.logger, o.logs = secrettest.Logger()
	o.results = sqliteDB(t, "results")
	var err error
	o.sink, err = sqlsink.New(o.results, dialect.SQLite, sqlsink.Options{SpillDir: t.TempDir()})
	require.NoError(t, err)
	return o
}

func sqliteDB(t *testing.T, name string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+t.TempDir()+"/"+name+".db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func (o *outputs) sinks() []loadtest.Sink {
	return []loadtest.Sink{loadtest.JSONSink{W: &o.json}, loadtest.TextSink{W: &o.text}, o.sink}
}

// check scans every output of a run, and the result, rendered every way
// startline renders it: JSON, text, HTML and OpenTelemetry spans.
func (o *outputs) check(t *testing.T, res *loadtest.Result, runErr error, dbs ...*sql.DB) {
	t.Helper()
	ctx := context.Background()
	secrettest.CheckErr(t, "the error Run returned", runErr)
	secrettest.Check(t, "slog output", o.logs.String())
	secrettest.Check(t, "the Snowflake driver's log", driverLog.String())
	secrettest.Check(t, "JSONSink output", o.json.String())
	secrettest.Check(t, "TextSink output", o.text.String())
	require.NotNil(t, res)
	secrettest.Check(t, "the result's timeline", fmt.Sprintf("%+v", res.Timeline))
	var html bytes.Buffer
	require.NoError(t, report.WriteHTML(&html, res))
	secrettest.Check(t, "the HTML report", html.String())
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	if len(res.Timeline.Marks) > 0 {
		require.NoError(t, otelexport.Export(ctx, tp, res.RunID, res.Timeline))
		secrettest.Check(t, "the OpenTelemetry spans", fmt.Sprintf("%+v", exp.GetSpans()))
	}
	require.NoError(t, tp.Shutdown(ctx))
	for i, db := range append([]*sql.DB{o.results}, dbs...) {
		dump, err := secrettest.DumpSQLite(ctx, db)
		require.NoError(t, err)
		secrettest.Check(t, "database rows (database "+strconv.Itoa(i)+")", dump)
	}
}

// runWith runs a short load test on p with every sink and o's logger.
func runWith(t *testing.T, p pool.Pool, o *outputs, mod func(*loadtest.Config)) (*loadtest.Result, error) {
	t.Helper()
	cfg := loadtest.Config{
		RunID: "secret-run", Node: "node-1", Pool: p, Workers: 2,
		Duration: 300 * time.Millisecond, Interval: 50 * time.Millisecond,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{
			loadtest.QueryOp("ok", 1, "SELECT 1", nil),
			loadtest.QueryOp("bad", 1, "SELECT no_such_column FROM no_such_table", nil),
		}},
		Sinks:  o.sinks(),
		Logger: o.logger,
		Labels: map[string]string{"build": "b1"},
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := loadtest.New(cfg)
	require.NoError(t, err)
	return r.Run(context.Background())
}

// closedPort returns a local TCP address that refuses connections.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// pgDSNs are PostgreSQL DSNs that carry a planted password and cannot
// connect, each for its own reason: trust auth ignores passwords, so the
// failures are a refused port, an unknown database, an unknown host, and
// DSNs too malformed to parse.
func pgDSNs(t *testing.T) map[string]string {
	t.Helper()
	u, err := url.Parse(testenv.Postgres(t))
	require.NoError(t, err)
	user := u.User.Username()
	special := url.UserPassword(user, secrettest.Special).String()
	closed := closedPort(t)
	return map[string]string{
		"refused port (URL, special password)": "postgres://" + special + "@" + closed + "/test?sslmode=disable&connect_timeout=5",
		"unknown database (URL)":               "postgres://" + user + ":" + secrettest.Secret + "@" + u.Host + "/startline_no_such_db?sslmode=disable",
		"unknown database (key=value)":         "host=" + u.Hostname() + " port=" + u.Port() + " user=" + user + " dbname=startline_no_such_db sslmode=disable password=" + secrettest.Secret,
		"refused port (key=value, quoted)":     "host=127.0.0.1 port=" + closed[strings.LastIndexByte(closed, ':')+1:] + " user=" + user + " sslmode=disable password='" + secrettest.Secret + " x'",
		"unknown host":                         "postgres://" + user + ":" + secrettest.Secret + "@startline-no-such-host.invalid:5432/test?connect_timeout=5",
		"bad port":                             "postgres://" + user + ":" + secrettest.Secret + "@127.0.0.1:notaport/test",
		"bad IPv6 host":                        "postgres://" + user + ":" + secrettest.Secret + "@[::1/test",
		"bad escape in password":               "postgres://" + user + ":" + secrettest.Secret + "%zz@127.0.0.1/test",
		"bad option (key=value)":               "host=127.0.0.1 password=" + secrettest.Secret + " pool_max_conns=many",
		"unterminated quote (key=value)":       "host=127.0.0.1 password='" + secrettest.Secret,
	}
}

// TestPgxnativeKeepsPasswordsOut opens pgxnative pools on DSNs with a
// planted password that fail to parse or to connect, and checks the errors
// of Open, Warm and Session, and of a whole run with every output.
func TestPgxnativeKeepsPasswordsOut(t *testing.T) {
	for name, dsn := range pgDSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			p, err := pgxnative.Open(ctx, dsn, pgxnative.Options{MaxConns: 4})
			if err != nil {
				secrettest.CheckErr(t, "pgxnative.Open's error", err)
				return
			}
			defer p.Close()
			err = p.Warm(ctx, pool.WarmOptions{Conns: 2})
			require.Error(t, err)
			secrettest.CheckErr(t, "Warm's error", err)
			_, err = p.Session(ctx)
			require.Error(t, err)
			secrettest.CheckErr(t, "Session's error", err)

			o := newOutputs(t)
			res, err := runWith(t, p, o, nil)
			require.Error(t, err)
			assert.NotEmpty(t, res.Error, "the result says why the run failed")
			o.check(t, res, err)
		})
	}
}

// TestSQLPoolKeepsPasswordsOut is the same through database/sql and pgx's
// stdlib driver, which sqlpool leaves the errors of.
func TestSQLPoolKeepsPasswordsOut(t *testing.T) {
	for name, dsn := range pgDSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				secrettest.CheckErr(t, "sql.Open's error", err)
				return
			}
			p := sqlpool.New(db, sqlpool.Options{})
			defer p.Close()
			err = p.Warm(ctx, pool.WarmOptions{Conns: 2})
			require.Error(t, err)
			secrettest.CheckErr(t, "Warm's error", err)

			o := newOutputs(t)
			res, err := runWith(t, p, o, nil)
			require.Error(t, err)
			o.check(t, res, err)
		})
	}
}

// TestSnowflakeKeepsSecretsOut plants the password and token of a
// Snowflake configuration: a login refused for a wrong password, logins
// throttled and retried (logged), a refused token, and DSNs that do not
// parse.
func TestSnowflakeKeepsSecretsOut(t *testing.T) {
	ctx := context.Background()
	s := snowflaketest.New(snowflaketest.Options{Users: map[string]string{"u": "right-password"}})
	defer s.Close()

	t.Run("wrong password", func(t *testing.T) {
		o := newOutputs(t)
		p, err := snowflake.New(s.Config("u", secrettest.Special), snowflake.Options{Logger: o.logger, RetryBackoff: time.Millisecond})
		require.NoError(t, err)
		defer p.Close()
		err = p.Warm(ctx, pool.WarmOptions{Conns: 2})
		require.ErrorIs(t, err, snowflake.ErrLogin)
		secrettest.CheckErr(t, "Warm's error", err)
		for _, l := range p.Logins() {
			secrettest.CheckErr(t, "a Login record", l.Err)
		}
		res, err := runWith(t, p, o, nil)
		require.ErrorIs(t, err, snowflake.ErrLogin)
		o.check(t, res, err)
	})
	t.Run("throttled logins retried", func(t *testing.T) {
		o := newOutputs(t)
		s.FailNext(snowflaketest.EndpointLogin, 429, 3)
		p, err := snowflake.New(s.Config("u", secrettest.Special), snowflake.Options{Logger: o.logger, RetryBackoff: time.Millisecond, LoginRetries: 5})
		require.NoError(t, err)
		defer p.Close()
		err = p.Warm(ctx, pool.WarmOptions{Conns: 1, Parallel: 1})
		require.ErrorIs(t, err, snowflake.ErrLogin) // retried, then refused
		assert.Contains(t, o.logs.String(), "retrying", "the retries were logged")
		secrettest.CheckErr(t, "Warm's error", err)
		secrettest.Check(t, "slog output", o.logs.String())
	})
	t.Run("token", func(t *testing.T) {
		cfg := s.Config("u", "")
		cfg.Authenticator = gosnowflake.AuthTypeOAuth
		cfg.Token = secrettest.Secret
		p, err := snowflake.New(cfg, snowflake.Options{})
		require.NoError(t, err)
		defer p.Close()
		err = p.Warm(ctx, pool.WarmOptions{Conns: 1})
		require.Error(t, err)
		secrettest.CheckErr(t, "Warm's error", err)
	})
	for name, dsn := range map[string]string{
		"bad port":     "u:" + secrettest.Secret + "@acct.snowflakecomputing.com:notaport/db",
		"bad escape":   "u:" + secrettest.Secret + "%zz@acct/db",
		"bad param":    "u:" + secrettest.Secret + "@acct/db?loginTimeout=forever",
		"bad protocol": "u:" + secrettest.Secret + "@acct/db?protocol=gopher",
	} {
		t.Run("DSN "+name, func(t *testing.T) {
			p, err := snowflake.Open(dsn, snowflake.Options{})
			if err == nil {
				p.Close()
				return
			}
			secrettest.CheckErr(t, "Open's error", err)
		})
	}
}

// TestRunKeepsSecretsOut runs a whole run on the Snowflake server with the
// planted password as the right one, coordinated through SQL tables and
// writing every sink, with operations that fail; then a run whose later
// logins are refused after the worker joined, so that the error lands in
// the coordinator's rows. No output may hold the password.
func TestRunKeepsSecretsOut(t *testing.T) {
	ctx := context.Background()
	s := snowflaketest.New(snowflaketest.Options{Users: map[string]string{"u": secrettest.Special}})
	defer s.Close()

	for _, tc := range []struct {
		name    string
		workers int
		conns   int
		fail    bool
	}{
		{"completes", 2, 2, false},
		{"logins refused after join", 3, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutputs(t)
			p, err := snowflake.New(s.Config("u", secrettest.Special), snowflake.Options{Logger: o.logger, RetryBackoff: time.Millisecond})
			require.NoError(t, err)
			defer p.Close()

			coordDB := sqliteDB(t, "coord")
			tb := sqlcoord.Tables{DB: coordDB, Dialect: dialect.SQLite}
			b, err := sqlcoord.New(sqlcoord.Options{Tables: tb, RunID: "secret-run", Logger: o.logger})
			require.NoError(t, err)
			kit := coordinate.Options{Logger: o.logger, Poll: 5 * time.Millisecond}
			orch, err := coordinate.NewRun(ctx, b, kit)
			require.NoError(t, err)
			c, err := coordinate.NewClient(b, kit)
			require.NoError(t, err)
			// The orchestrator waits for the worker until it is ready, or
			// until the run ends without it being ready.
			octx, ocancel := context.WithCancel(ctx)
			defer ocancel()
			started := make(chan error, 1)
			go func() {
				_, err := orch.StartWhenReady(octx, coordinate.Readiness{Nodes: 1}, 0)
				started <- err
			}()
			res, runErr := runWith(t, p, o, func(cfg *loadtest.Config) {
				cfg.Workers, cfg.Conns = tc.workers, tc.conns
				cfg.Coordinator = c
				if !tc.fail {
					// Measure until both operations have run (a loaded
					// machine can take the whole of a short window for
					// the first statements), then stop.
					cfg.Duration = time.Minute
					var ok, bad int64
					var once sync.Once
					cfg.Hooks.Interval = func(iv loadtest.Interval) {
						if iv.Phase != timing.Measure {
							return
						}
						ok += iv.Operations["ok"].Ops
						bad += iv.Operations["bad"].Errors
						if ok > 0 && bad > 0 {
							once.Do(func() {
								go func() {
									_, _ = orch.Send(ctx, coordinate.Event{Kind: coordinate.EventStop, Reason: "both operations ran"})
								}()
							})
						}
					}
				}
				if tc.fail {
					// After the warm-up and the join, before the workers
					// take their sessions: the sessions beyond
					// the warmed connections log in again, and are refused.
					cfg.Hooks.PhaseDone = func(i loadtest.PhaseDoneInfo) {
						if i.Phase == timing.CoordRegister {
							s.FailNext(snowflaketest.EndpointLogin, 403, 100)
						}
					}
				}
			})
			if tc.fail {
				ocancel()
				<-started
				require.Error(t, runErr)
				assert.True(t, errors.Is(runErr, snowflake.ErrLogin), "%v", runErr)
			} else {
				require.NoError(t, <-started)
				require.NoError(t, runErr)
				assert.Positive(t, res.Operations["ok"].Ops)
				assert.Positive(t, res.Operations["bad"].Errors)
			}
			cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
			defer ccancel()
			results, err := loadtest.Collect(cctx, o.sink, "secret-run", []string{"node-1"})
			secrettest.CheckErr(t, "Collect's error", err)
			require.Len(t, results, 1)
			for _, r := range results {
				o.check(t, r, nil)
			}
			ws, err := orch.Nodes(ctx)
			require.NoError(t, err)
			secrettest.Check(t, "the orchestrator's view of the nodes", fmt.Sprintf("%+v", ws))
			if tc.fail {
				// The error did reach the coordinator's rows (scrubbed).
				dump, err := secrettest.DumpSQLite(ctx, coordDB)
				require.NoError(t, err)
				assert.Contains(t, dump, "FAILED")
				assert.Contains(t, dump, `as user "u" failed`, "in the node's err_text")
			}
			o.check(t, res, runErr, coordDB)
		})
	}
}
