package snowflaketest_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/snowflakedb/gosnowflake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool/snowflake/snowflaketest"
)

// open starts a server and a database/sql handle logged in as the default
// user; both are closed when the test ends.
func open(t *testing.T, opts snowflaketest.Options) (*snowflaketest.Server, *sql.DB) {
	t.Helper()
	s := snowflaketest.New(opts)
	t.Cleanup(s.Close)
	db := sql.OpenDB(gosnowflake.NewConnector(gosnowflake.SnowflakeDriver{},
		*s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)))
	t.Cleanup(func() { assert.NoError(t, db.Close()) })
	return s, db
}

func TestLoginAndClose(t *testing.T) {
	s, db := open(t, snowflaketest.Options{})
	require.NoError(t, db.Ping())
	c := s.Counters()
	assert.Equal(t, 1, c.Logins)
	assert.Equal(t, 1, c.LoginAttempts)
	assert.Equal(t, 1, s.OpenSessions())
	require.NoError(t, db.Close())
	assert.Equal(t, 0, s.OpenSessions(), "closing the driver's connection deletes the session")
	assert.Equal(t, 1, s.Counters().SessionsClosed)
}

func TestWrongPassword(t *testing.T) {
	s := snowflaketest.New(snowflaketest.Options{})
	defer s.Close()
	db := sql.OpenDB(gosnowflake.NewConnector(gosnowflake.SnowflakeDriver{}, *s.Config(snowflaketest.DefaultUser, "nope-nope")))
	defer db.Close()
	err := db.Ping()
	var se *gosnowflake.SnowflakeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 390100, se.Number)
	assert.Equal(t, 1, s.Counters().LoginsRejected)
	assert.Zero(t, s.Counters().Logins)
}

func TestUnknownAccount(t *testing.T) {
	s := snowflaketest.New(snowflaketest.Options{})
	defer s.Close()
	cfg := s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)
	cfg.Account = "someoneelse"
	db := sql.OpenDB(gosnowflake.NewConnector(gosnowflake.SnowflakeDriver{}, *cfg))
	defer db.Close()
	err := db.Ping()
	var se *gosnowflake.SnowflakeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, gosnowflake.ErrCodeFailedToConnect, se.Number, "HTTP 403, as an unknown account's host answers")
}

func TestTypesRoundTrip(t *testing.T) {
	_, db := open(t, snowflaketest.Options{})
	ctx := context.Background()
	_, err := db.ExecContext(ctx, `CREATE OR REPLACE TRANSIENT TABLE "T" ("ID" NUMBER(38,0), "NAME" VARCHAR, "SCORE" FLOAT, "OK" BOOLEAN, "AT" TIMESTAMP_NTZ)`)
	require.NoError(t, err)
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	res, err := db.ExecContext(ctx, `INSERT INTO "T" VALUES (?, ?, ?, ?, ?), (:6, :7, :8, :9, :10)`,
		int64(7), "seven", 7.5, true, at, int64(8), nil, 8.25, false, at.Add(time.Hour))
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)

	rows, err := db.QueryContext(ctx, `SELECT "ID", "NAME", "SCORE", "OK", "AT" FROM "T" ORDER BY "ID"`)
	require.NoError(t, err)
	defer rows.Close()
	types, err := rows.ColumnTypes()
	require.NoError(t, err)
	var names []string
	for _, ct := range types {
		names = append(names, ct.DatabaseTypeName())
	}
	assert.Equal(t, []string{"FIXED", "TEXT", "REAL", "BOOLEAN", "TIMESTAMP_NTZ"}, names)
	type row struct {
		id    int64
		name  sql.NullString
		score float64
		ok    bool
		at    time.Time
	}
	var got []row
	for rows.Next() {
		var r row
		require.NoError(t, rows.Scan(&r.id, &r.name, &r.score, &r.ok, &r.at))
		got = append(got, r)
	}
	require.NoError(t, rows.Err())
	require.Len(t, got, 2)
	assert.Equal(t, row{7, sql.NullString{String: "seven", Valid: true}, 7.5, true, at}, got[0])
	assert.Equal(t, row{8, sql.NullString{}, 8.25, false, at.Add(time.Hour)}, got[1])

	// CREATE OR REPLACE really replaces.
	_, err = db.ExecContext(ctx, `CREATE OR REPLACE TABLE "T" ("ID" NUMBER)`)
	require.NoError(t, err)
	var count int64
	require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM "T"`).Scan(&count))
	assert.Zero(t, count)
}

func TestSQLError(t *testing.T) {
	s, db := open(t, snowflaketest.Options{})
	_, err := db.Exec(`SELECT * FROM "MISSING"`)
	var se *gosnowflake.SnowflakeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 2003, se.Number)
	assert.Equal(t, "42S02", se.SQLState)
	st := s.Statements()
	require.NotEmpty(t, st)
	assert.Equal(t, "002003", st[len(st)-1].Code)

	_, err = db.Exec(`SELEKT 1`)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "42000", se.SQLState)
}

func TestSessionStatements(t *testing.T) {
	s, db := open(t, snowflaketest.Options{})
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	for _, q := range []string{
		`ALTER SESSION SET QUERY_TAG = 'it''s me', USE_CACHED_RESULT = FALSE`,
		`USE WAREHOUSE bench_wh`,
		`SELECT 1`,
		`ALTER SESSION UNSET QUERY_TAG`,
		`SELECT 2`,
	} {
		_, err := conn.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	_, err = conn.ExecContext(gosnowflake.WithQueryTag(ctx, "per-statement"), `SELECT 3`)
	require.NoError(t, err)

	st := s.Statements()
	bySQL := map[string]snowflaketest.Statement{}
	for _, x := range st {
		bySQL[x.SQL] = x
	}
	assert.Equal(t, "it's me", bySQL["SELECT 1"].QueryTag)
	assert.Equal(t, "FALSE", bySQL["SELECT 1"].Params["USE_CACHED_RESULT"])
	assert.Equal(t, "BENCH_WH", bySQL["SELECT 1"].Warehouse, "unquoted names are upper-cased")
	assert.Equal(t, "", bySQL["SELECT 2"].QueryTag)
	assert.Equal(t, "per-statement", bySQL["SELECT 3"].QueryTag)
	assert.Equal(t, "session", bySQL["USE WAREHOUSE bench_wh"].Kind)
}

func TestWarehouseResume(t *testing.T) {
	s, db := open(t, snowflaketest.Options{})
	assert.False(t, s.WarehouseRunning("wh"))
	for range 2 {
		_, err := db.Exec(`ALTER WAREHOUSE wh RESUME IF SUSPENDED`)
		require.NoError(t, err)
	}
	assert.True(t, s.WarehouseRunning("WH"))
	assert.Equal(t, 1, s.Counters().WarehouseResumes, "a running warehouse is not resumed again")
	_, err := db.Exec(`ALTER WAREHOUSE wh RESUME`)
	require.Error(t, err, "RESUME without IF SUSPENDED on a running warehouse")
	_, err = db.Exec(`ALTER WAREHOUSE wh SUSPEND`)
	require.NoError(t, err)
	assert.False(t, s.WarehouseRunning("wh"))
}

func TestExpiredSessionIsRenewed(t *testing.T) {
	s, db := open(t, snowflaketest.Options{})
	require.NoError(t, db.Ping())
	s.ExpireSessions()
	var n int64
	require.NoError(t, db.QueryRow(`SELECT 5`).Scan(&n))
	assert.Equal(t, int64(5), n)
	c := s.Counters()
	assert.Equal(t, 1, c.Expired)
	assert.Equal(t, 1, c.Renewals)
	assert.Equal(t, 1, c.Logins, "renewal is not a new login")
}

func TestQuery5xxRetriedByDriver(t *testing.T) {
	s, db := open(t, snowflaketest.Options{})
	require.NoError(t, db.Ping())
	s.FailNext(snowflaketest.EndpointQuery, http.StatusServiceUnavailable, 1)
	var n int64
	require.NoError(t, db.QueryRow(`SELECT 6`).Scan(&n))
	assert.Equal(t, int64(6), n)
	assert.Equal(t, 1, s.Counters().Injected)
}

func TestLoginThrottled(t *testing.T) {
	s, db := open(t, snowflaketest.Options{})
	s.FailNext(snowflaketest.EndpointLogin, http.StatusTooManyRequests, 1)
	err := db.Ping()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP Status: 429", "the driver does not retry within a 1ms login budget")
	require.NoError(t, db.Ping(), "the next login succeeds")
	assert.Equal(t, 2, s.Counters().LoginAttempts)
}

func TestAuthorizationChecked(t *testing.T) {
	s := snowflaketest.New(snowflaketest.Options{})
	defer s.Close()
	url := "http://" + s.Addr() + string(snowflaketest.EndpointQuery)
	post := func(auth string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(`{"sqlText":"SELECT 1"}`))
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := post("")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = post(`Bearer abc`)
	assert.Equal(t, http.StatusUnauthorized, code)
	code, body := post(`Snowflake Token="not-a-token"`)
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"390111"`)
	assert.Equal(t, 3, s.Counters().Unauthorized)
	assert.Zero(t, s.Counters().Statements)
	http.DefaultClient.CloseIdleConnections()
}

func TestLatency(t *testing.T) {
	// Only lower bounds: a sleep is never shorter than asked, while upper
	// bounds depend on the machine's load.
	s, db := open(t, snowflaketest.Options{
		LoginLatency:  snowflaketest.Fixed(30 * time.Millisecond),
		QueryLatency:  snowflaketest.Fixed(10 * time.Millisecond),
		InsertLatency: snowflaketest.Between(40*time.Millisecond, 50*time.Millisecond),
	})
	start := time.Now()
	require.NoError(t, db.Ping())
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond, "login latency is added")
	_, err := db.Exec(`CREATE TABLE x (a INT)`)
	require.NoError(t, err)
	for range 3 {
		_, err = db.Exec(`INSERT INTO x VALUES (1)`)
		require.NoError(t, err)
	}
	kinds := map[string]int{}
	for _, st := range s.Statements() {
		kinds[st.Kind]++
		want := 10 * time.Millisecond
		if st.Kind == "dml" {
			want = 40 * time.Millisecond
		}
		assert.GreaterOrEqual(t, st.End.Sub(st.Start), want, "%s", st.SQL)
	}
	assert.Equal(t, map[string]int{"select": 1, "ddl": 1, "dml": 3}, kinds)
}

func TestStatementTimeout(t *testing.T) {
	s, db := open(t, snowflaketest.Options{QueryLatency: snowflaketest.Fixed(1500 * time.Millisecond)})
	_ = s
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), `ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = 1`)
	require.NoError(t, err)
	_, err = conn.ExecContext(context.Background(), `SELECT 1`)
	var se *gosnowflake.SnowflakeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 630, se.Number)
}

func TestBadOptions(t *testing.T) {
	_, err := snowflaketest.NewServer(snowflaketest.Options{InsertLatency: snowflaketest.Between(2*time.Second, time.Second)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "InsertLatency")
	assert.Panics(t, func() { snowflaketest.New(snowflaketest.Options{LoginLatency: snowflaketest.Fixed(-1)}) })
	for field, opts := range map[string]snowflaketest.Options{
		"CompileLatency":                {CompileLatency: snowflaketest.LogNormal(time.Second, time.Millisecond)},
		"Warehouse.MaxConcurrency":      {Warehouse: snowflaketest.WarehouseOptions{MaxConcurrency: -1}},
		"Warehouse.QueuedTimeout":       {Warehouse: snowflaketest.WarehouseOptions{QueuedTimeout: -time.Second}},
		"Warehouse.AutoSuspend":         {Warehouse: snowflaketest.WarehouseOptions{AutoSuspend: -time.Second}},
		"MinClusters <= MaxClusters":    {Warehouse: snowflaketest.WarehouseOptions{MinClusters: 3, MaxClusters: 2}},
		"Warehouse.ClusterStartLatency": {Warehouse: snowflaketest.WarehouseOptions{ClusterStartLatency: snowflaketest.Between(2, 1)}},
		"Warehouse.StatementTimeout":    {Warehouse: snowflaketest.WarehouseOptions{StatementTimeout: -1}},
	} {
		_, err := snowflaketest.NewServer(opts)
		require.Error(t, err, field)
		assert.Contains(t, err.Error(), field)
	}
	s, err := snowflaketest.NewServer(snowflaketest.Options{Warehouse: snowflaketest.WarehouseOptions{AutoSuspend: snowflaketest.NoAutoSuspend}})
	require.NoError(t, err, "NoAutoSuspend is allowed")
	s.Close()
}

func TestCloseCutsLatencyShort(t *testing.T) {
	s := snowflaketest.New(snowflaketest.Options{LoginLatency: snowflaketest.Fixed(time.Hour)})
	db := sql.OpenDB(gosnowflake.NewConnector(gosnowflake.SnowflakeDriver{},
		*s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)))
	defer db.Close()
	var wg sync.WaitGroup
	var err error
	wg.Go(func() { err = db.Ping() })
	for s.Counters().LoginAttempts == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Close() // returns although a login waits for an hour
	wg.Wait()
	require.Error(t, err)
	assert.False(t, errors.Is(err, context.Canceled))
}
