package snowflake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snowflakedb/gosnowflake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/pooltest"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
	"github.com/startline/startline/profile"
)

// newServer starts a local server closed at the end of the test.
func newServer(t testing.TB, opts snowflaketest.Options) *snowflaketest.Server {
	t.Helper()
	s := snowflaketest.New(opts)
	t.Cleanup(s.Close)
	return s
}

// newPool makes a pool on s, closed at the end of the test (after
// anything the test closes itself: a second Close returns nil).
func newPool(t testing.TB, s *snowflaketest.Server, opts snowflake.Options) *snowflake.Pool {
	t.Helper()
	p, err := snowflake.New(s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword), opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

// TestConformance runs the pool kit against the local server in both
// result formats: Arrow, as real accounts answer by default, and JSON,
// which a session asks for with GO_QUERY_RESULT_FORMAT.
func TestConformance(t *testing.T) {
	for _, format := range []string{"arrow", "json"} {
		t.Run(format, func(t *testing.T) {
			var servers sync.Map // pool.Pool -> *snowflaketest.Server
			pooltest.Run(t, func(t *testing.T) pool.Pool {
				s := newServer(t, snowflaketest.Options{})
				cfg := s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)
				if format == "json" {
					cfg.Params["GO_QUERY_RESULT_FORMAT"] = &format
				}
				p, err := snowflake.New(cfg, snowflake.Options{})
				require.NoError(t, err)
				servers.Store(p, s)
				return p
			}, pooltest.Options{
				Query: "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3",
				Rows:  3,
				Conns: 4,
				ServerConns: func(t *testing.T, p pool.Pool) int {
					s, ok := servers.Load(p)
					require.True(t, ok)
					return s.(*snowflaketest.Server).OpenSessions()
				},
			})
			queries := 0
			servers.Range(func(_, s any) bool {
				for _, st := range s.(*snowflaketest.Server).Statements() {
					if st.Kind == "select" && st.Code == "" {
						queries++
						assert.Equal(t, format, st.Format, "%s", st.SQL)
					}
				}
				return true
			})
			assert.Positive(t, queries, "the kit's queries were answered in %s", format)
		})
	}
}

func TestSettingsAppliedToEverySession(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	p := newPool(t, s, snowflake.Options{Settings: snowflake.Settings{
		RunID:            "run-42",
		Node:             "n1",
		Warehouse:        "bench_wh",
		StatementTimeout: 1500 * time.Millisecond,
	}})
	ctx := context.Background()
	require.NoError(t, p.Warm(ctx, pool.WarmOptions{Conns: 3}))
	assert.Equal(t, 3, s.Counters().Logins)

	var sessions []*snowflake.Session
	for range 3 {
		ps, err := p.Session(ctx)
		require.NoError(t, err)
		sessions = append(sessions, ps.(*snowflake.Session))
	}
	sessions[2].TagPhase(2, "warmup", "w")
	_, err := sessions[2].Query(ctx, "SELECT 'w'")
	require.NoError(t, err)
	sessions[2].TagPhase(2, "measure", "m")
	_, err = sessions[2].Query(ctx, "SELECT 'm'")
	require.NoError(t, err)
	_, err = sessions[0].Query(ctx, "SELECT 'untagged'")
	require.NoError(t, err)
	for _, ss := range sessions {
		require.NoError(t, ss.Close())
	}

	seen := map[int64]bool{}
	tags := map[string]string{}
	for _, st := range s.Statements() {
		seen[st.Session] = true
		assert.Equal(t, "FALSE", st.Params["USE_CACHED_RESULT"], "%s", st.SQL)
		assert.Equal(t, "2", st.Params["STATEMENT_TIMEOUT_IN_SECONDS"], "rounded up to whole seconds")
		assert.Equal(t, "BENCH_WH", st.Warehouse)
		tags[st.SQL] = st.QueryTag
	}
	assert.Len(t, seen, 3, "statements from every warmed session")
	assert.JSONEq(t, `{"startline":"run-42","node":"n1","phase":"pool.init"}`, tags["SELECT 1"], "the warm-up's ping carries the session's tag")
	assert.JSONEq(t, `{"startline":"run-42","node":"n1","worker":2,"phase":"warmup","operation":"w"}`, tags["SELECT 'w'"])
	assert.JSONEq(t, `{"startline":"run-42","node":"n1","worker":2,"phase":"measure","operation":"m"}`, tags["SELECT 'm'"])
	assert.JSONEq(t, `{"startline":"run-42","node":"n1","worker":0}`, tags["SELECT 'untagged'"], "sessions are numbered in the order they are taken")

	set := p.Settings()
	b, err := json.Marshal(set)
	require.NoError(t, err)
	assert.JSONEq(t, `{"run_id":"run-42","node":"n1","warehouse":"bench_wh","result_cache":false,"statement_timeout_ns":1500000000}`, string(b))
}

func TestResultCacheOnRequest(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	p := newPool(t, s, snowflake.Options{Settings: snowflake.Settings{ResultCache: true}})
	require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: 1}))
	st := s.Statements()
	require.NotEmpty(t, st)
	_, set := st[0].Params["USE_CACHED_RESULT"]
	assert.False(t, set, "the account's default is kept")
	assert.True(t, strings.HasPrefix(p.Settings().RunID, "run-"), "a run id is chosen: %q", p.Settings().RunID)
}

func TestBadSettings(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	cfg := s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)
	for _, tc := range []struct {
		opts  snowflake.Options
		field string
	}{
		{snowflake.Options{Settings: snowflake.Settings{Warehouse: "wh; DROP TABLE x"}}, "Settings.Warehouse"},
		{snowflake.Options{Settings: snowflake.Settings{StatementTimeout: -time.Second}}, "Settings.StatementTimeout"},
		{snowflake.Options{Settings: snowflake.Settings{RunID: strings.Repeat("r", 300)}}, "Settings.RunID"},
		{snowflake.Options{RetryBackoff: -1}, "Options.RetryBackoff"},
	} {
		_, err := snowflake.New(cfg, tc.opts)
		require.Error(t, err, tc.field)
		assert.ErrorIs(t, err, snowflake.ErrInvalidSettings)
		assert.Contains(t, err.Error(), tc.field)
	}
	_, err := snowflake.New(nil, snowflake.Options{})
	assert.ErrorIs(t, err, snowflake.ErrInvalidSettings)
	_, err = snowflake.Open("user:hunter2hunter2@acct?loginTimeout=soon", snowflake.Options{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2hunter2")
}

func TestOpenDSN(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	p, err := snowflake.Open(s.DSN(snowflaketest.DefaultUser, snowflaketest.DefaultPassword), snowflake.Options{})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: 2}))
	assert.Equal(t, 2, s.OpenSessions())
}

// warmErr warms p with conns connections and returns the error.
func warmErr(t *testing.T, p *snowflake.Pool, conns int) error {
	t.Helper()
	err := p.Warm(context.Background(), pool.WarmOptions{Conns: conns, Parallel: 1})
	require.Error(t, err)
	var we *pool.WarmError
	require.ErrorAs(t, err, &we)
	return err
}

func TestWrongPasswordNotRetried(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	const secret = "definitely-wrong-pw"
	p, err := snowflake.New(s.Config(snowflaketest.DefaultUser, secret), snowflake.Options{RetryBackoff: time.Millisecond})
	require.NoError(t, err)
	defer p.Close()
	err = warmErr(t, p, 3)
	assert.ErrorIs(t, err, snowflake.ErrLogin)
	var le *snowflake.LoginError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 1, le.Attempts, "a permanent error is not retried")
	var se *gosnowflake.SnowflakeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 390100, se.Number)
	msg := err.Error()
	assert.Contains(t, msg, `account "`+snowflaketest.DefaultAccount+`"`)
	assert.Contains(t, msg, s.Addr())
	assert.NotContains(t, msg, secret)
	assert.Equal(t, 1, s.Counters().LoginAttempts, "the first failure stops the warm-up")
}

func TestUnknownAccount(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	cfg := s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)
	cfg.Account = "nosuchacct"
	p, err := snowflake.New(cfg, snowflake.Options{RetryBackoff: time.Millisecond})
	require.NoError(t, err)
	defer p.Close()
	err = warmErr(t, p, 2)
	var le *snowflake.LoginError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 1, le.Attempts)
	assert.Contains(t, err.Error(), `account "nosuchacct"`)
	assert.Contains(t, err.Error(), s.Addr())
	assert.NotContains(t, err.Error(), snowflaketest.DefaultPassword)
}

func TestUnreachableHost(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close()) // nothing listens there now
	cfg := s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)
	cfg.Port = port
	p, err := snowflake.New(cfg, snowflake.Options{RetryBackoff: time.Millisecond})
	require.NoError(t, err)
	defer p.Close()
	err = warmErr(t, p, 2)
	var le *snowflake.LoginError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 1, le.Attempts, "an unreachable host is not retried by the pool")
	assert.Contains(t, err.Error(), "127.0.0.1:"+strconv.Itoa(port))
	assert.Contains(t, err.Error(), "connection refused")
	assert.NotContains(t, err.Error(), snowflaketest.DefaultPassword)
}

func TestThrottledLoginRetried(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	s.FailNext(snowflaketest.EndpointLogin, http.StatusTooManyRequests, 3)
	var logs bytes.Buffer
	p := newPool(t, s, snowflake.Options{
		RetryBackoff: 5 * time.Millisecond,
		Logger:       slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: 2, Parallel: 1}))
	c := s.Counters()
	assert.Equal(t, 5, c.LoginAttempts, "3 throttled, then 2 logins")
	assert.Equal(t, 2, c.Logins)
	logins := p.Logins()
	require.Len(t, logins, 2)
	assert.Equal(t, 4, logins[0].Attempts, "the first connection waited out the throttling")
	assert.Equal(t, 1, logins[1].Attempts)
	for _, l := range logins {
		assert.NoError(t, l.Err)
		assert.False(t, l.End.Before(l.Start))
	}
	assert.Equal(t, 3, strings.Count(logs.String(), "login throttled, retrying"))
}

func TestThrottledLoginGivesUp(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	s.FailNext(snowflaketest.EndpointLogin, http.StatusServiceUnavailable, 10)
	p := newPool(t, s, snowflake.Options{RetryBackoff: time.Millisecond, LoginRetries: 2})
	err := warmErr(t, p, 1)
	var le *snowflake.LoginError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 3, le.Attempts, "one try and two retries")
	assert.True(t, snowflake.IsRetryable(le.Err))
	assert.Equal(t, 3, s.Counters().LoginAttempts)
}

func TestRetryPauseEndsWithContext(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	s.FailNext(snowflaketest.EndpointLogin, http.StatusTooManyRequests, 1)
	p := newPool(t, s, snowflake.Options{RetryBackoff: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for s.Counters().LoginAttempts == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	err := p.Warm(ctx, pool.WarmOptions{Conns: 1})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestIsRetryable(t *testing.T) {
	assert.True(t, snowflake.IsRetryable(errors.New("timeout after 1ms and 1 attempts. HTTP Status: 429. Hanging?")))
	assert.True(t, snowflake.IsRetryable(errors.New("timeout after 1ms and 1 attempts. HTTP Status: 503. Hanging?")))
	assert.True(t, snowflake.IsRetryable(&gosnowflake.SnowflakeError{Number: gosnowflake.ErrCodeServiceUnavailable}))
	assert.False(t, snowflake.IsRetryable(&gosnowflake.SnowflakeError{Number: 390100}))
	assert.False(t, snowflake.IsRetryable(errors.New("timeout after 1ms and 1 attempts. HTTP Status: 404. Hanging?")))
	assert.False(t, snowflake.IsRetryable(context.Canceled))
	assert.False(t, snowflake.IsRetryable(nil))
}

// TestSecretsNotLeaked fails every kind of login with a recognisable
// password and searches the errors, the pool's log and the driver's log for
// it, and for the session tokens the server handed out.
func TestSecretsNotLeaked(t *testing.T) {
	const secret = "S3cr3t-Pa55w0rd-xyz"
	s := newServer(t, snowflaketest.Options{Users: map[string]string{"alice": secret}})
	var driverLog bytes.Buffer
	gosnowflake.GetLogger().SetOutput(&driverLog)
	defer gosnowflake.GetLogger().SetOutput(io.Discard)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var msgs []string
	try := func(mut func(*gosnowflake.Config)) {
		cfg := s.Config("alice", secret)
		mut(cfg)
		p, err := snowflake.New(cfg, snowflake.Options{RetryBackoff: time.Millisecond, LoginRetries: 1, Logger: logger})
		require.NoError(t, err)
		defer p.Close()
		if err := p.Warm(context.Background(), pool.WarmOptions{Conns: 1}); err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	try(func(c *gosnowflake.Config) { c.User = "bob" })                    // unknown user
	try(func(c *gosnowflake.Config) { c.Account = "other" })               // unknown account
	try(func(c *gosnowflake.Config) { c.Port = 1 })                        // unreachable
	s.FailNext(snowflaketest.EndpointLogin, http.StatusTooManyRequests, 2) // throttled beyond retries
	try(func(*gosnowflake.Config) {})
	try(func(*gosnowflake.Config) {}) // succeeds: tokens are issued
	require.Len(t, msgs, 4)
	for _, m := range msgs {
		assert.NotContains(t, m, secret)
	}
	assert.Contains(t, logs.String(), "login throttled")
	assert.Contains(t, driverLog.String(), "Authentication FAILED", "the driver's log was captured")
	for name, out := range map[string]string{"pool log": logs.String(), "driver log": driverLog.String(), "errors": strings.Join(msgs, "\n")} {
		assert.NotContains(t, out, secret, name)
	}
}

// TestSessionExpiryMidRun expires every session in the middle of a measured
// run: the driver renews its token and the operation that met the expiry
// still counts as one successful operation.
func TestSessionExpiryMidRun(t *testing.T) {
	s := newServer(t, snowflaketest.Options{QueryLatency: snowflaketest.Fixed(2 * time.Millisecond)})
	p := newPool(t, s, snowflake.Options{})
	var calls atomic.Int64
	op := loadtest.QueryOp("select", 1, "SELECT 1", nil)
	inner := op.Run
	op.Run = func(ctx context.Context, w *loadtest.Worker) error {
		if calls.Add(1) == 5 {
			s.ExpireSessions()
		}
		return inner(ctx, w)
	}
	r, err := loadtest.New(loadtest.Config{
		Pool:     p,
		Workers:  4,
		Duration: time.Second,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{op}},
	})
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	m := res.Phases.Measure
	assert.Zero(t, m.Errors)
	assert.Equal(t, calls.Load(), m.Ops, "every operation is accounted for")
	c := s.Counters()
	assert.Equal(t, 4, c.Renewals, "each of the 4 sessions renewed its token once")
	assert.Equal(t, 4, c.Expired)
	assert.Equal(t, 4, c.Logins, "no new logins")
	for _, st := range s.Statements() {
		if st.SQL == "SELECT 1" && st.QueryTag != "" && strings.Contains(st.QueryTag, "worker") {
			assert.Contains(t, st.QueryTag, `"phase":"measure"`)
		}
	}
}

// TestSnowflakeDialect creates a table through the driver with the
// Snowflake dialect's quoting and profiles it with profile.SQLProfiler over
// the pool's database handle.
func TestSnowflakeDialect(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	p := newPool(t, s, snowflake.Options{})
	ctx := context.Background()
	d := dialect.Snowflake
	tbl, err := d.Ident("orders")
	require.NoError(t, err)
	id, _ := d.Ident("id")
	region, _ := d.Ident("region")
	amount, _ := d.Ident("amount")
	_, err = p.DB().ExecContext(ctx, "CREATE OR REPLACE TABLE "+tbl+" ("+id+" NUMBER(38,0), "+region+" VARCHAR, "+amount+" FLOAT)")
	require.NoError(t, err)
	for i := 1; i <= 50; i++ {
		_, err := p.DB().ExecContext(ctx, "INSERT INTO "+tbl+" VALUES ("+d.Placeholder(1)+", "+d.Placeholder(2)+", "+d.Placeholder(3)+")",
			int64(100+i), []string{"emea", "amer", "apac"}[i%3], float64(i)/4)
		require.NoError(t, err)
	}
	prof := &profile.SQLProfiler{DB: p.DB(), Dialect: d}
	pr, err := prof.Profile(ctx, []profile.TableSpec{{Table: "orders", Key: "id", Columns: []string{"region", "amount"}, Sample: 10}})
	require.NoError(t, err)
	tb := pr.Table("orders")
	require.NotNil(t, tb)
	assert.True(t, tb.HasIDs)
	assert.Equal(t, int64(101), tb.MinID)
	assert.Equal(t, int64(150), tb.MaxID)
	assert.Len(t, tb.Values["region"], 10)
	for _, v := range tb.Values["region"] {
		assert.Contains(t, []any{"emea", "amer", "apac"}, v)
	}
	require.Len(t, tb.Values["amount"], 10)
	for _, v := range tb.Values["amount"] {
		// The profiler reads a FLOAT's text as int64 when it is integral.
		switch x := v.(type) {
		case float64:
			assert.InDelta(t, 6.25, x, 6.25)
		case int64:
			assert.Contains(t, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, x)
		default:
			t.Errorf("amount %v is a %T, want a number", v, v)
		}
	}
	var sawQuoted bool
	for _, st := range s.Statements() {
		if strings.Contains(st.SQL, `MIN("ID"), MAX("ID") FROM "ORDERS"`) {
			sawQuoted = true
		}
	}
	assert.True(t, sawQuoted, "the profiler's queries use Snowflake's upper-case quoted names")
}

func TestPrepareResumesWarehouse(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	p := newPool(t, s, snowflake.Options{Settings: snowflake.Settings{Warehouse: "bench_wh"}})
	require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: 1}))
	assert.False(t, s.WarehouseRunning("BENCH_WH"))
	require.NoError(t, p.Prepare(context.Background()))
	assert.True(t, s.WarehouseRunning("BENCH_WH"))
	require.NoError(t, p.Prepare(context.Background()), "IF SUSPENDED: a running warehouse is fine")
	assert.Equal(t, 1, s.Counters().WarehouseResumes)
	assert.Equal(t, snowflake.PhaseWarehouseResume, p.PreparePhase())

	skip := newPool(t, s, snowflake.Options{Settings: snowflake.Settings{Warehouse: "other_wh", SkipResume: true}})
	require.NoError(t, skip.Prepare(context.Background()))
	assert.False(t, s.WarehouseRunning("OTHER_WH"))
}
