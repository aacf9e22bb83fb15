package snowflaketest_test

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snowflakedb/gosnowflake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool/snowflake/snowflaketest"
)

// historyColumns are the columns the server's QUERY_HISTORY functions
// serve, in Snowflake's order.
var historyColumns = []string{"QUERY_ID", "QUERY_TEXT", "DATABASE_NAME", "SCHEMA_NAME", "QUERY_TYPE", "SESSION_ID",
	"USER_NAME", "ROLE_NAME", "WAREHOUSE_NAME", "WAREHOUSE_SIZE", "WAREHOUSE_TYPE", "CLUSTER_NUMBER", "QUERY_TAG",
	"EXECUTION_STATUS", "ERROR_CODE", "ERROR_MESSAGE", "START_TIME", "END_TIME", "TOTAL_ELAPSED_TIME", "BYTES_SCANNED",
	"ROWS_PRODUCED", "COMPILATION_TIME", "EXECUTION_TIME", "QUEUED_PROVISIONING_TIME", "QUEUED_REPAIR_TIME",
	"QUEUED_OVERLOAD_TIME", "TRANSACTION_BLOCKED_TIME"}

// TestQueryHistoryColumns reads the whole history in both result formats:
// Snowflake's column names and types, and the history query itself, still
// running, at the top.
func TestQueryHistoryColumns(t *testing.T) {
	s, arrowDB := open(t, snowflaketest.Options{})
	jsonDB := openWith(t, s, map[string]string{"GO_QUERY_RESULT_FORMAT": "JSON"})
	for name, db := range map[string]*sql.DB{"arrow": arrowDB, "json": jsonDB} {
		t.Run(name, func(t *testing.T) {
			const q = `SELECT * FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY())`
			rows, err := db.Query(q)
			require.NoError(t, err)
			defer rows.Close()
			cols, err := rows.Columns()
			require.NoError(t, err)
			assert.Equal(t, historyColumns, cols)
			cts, err := rows.ColumnTypes()
			require.NoError(t, err)
			types := map[string]string{}
			for _, ct := range cts {
				types[ct.Name()] = ct.DatabaseTypeName()
			}
			assert.Equal(t, "TIMESTAMP_LTZ", types["START_TIME"])
			assert.Equal(t, "TIMESTAMP_LTZ", types["END_TIME"])
			assert.Equal(t, "FIXED", types["TOTAL_ELAPSED_TIME"])
			assert.Equal(t, "FIXED", types["SESSION_ID"])
			assert.Equal(t, "TEXT", types["QUERY_TAG"])
			require.True(t, rows.Next(), "the history holds at least the query reading it")
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			row := map[string]any{}
			for i, c := range cols {
				row[c] = vals[i]
			}
			assert.Equal(t, q, row["QUERY_TEXT"], "the newest statement is the history query itself")
			assert.Equal(t, "RUNNING", row["EXECUTION_STATUS"])
			assert.Nil(t, row["END_TIME"], "a running statement has not ended")
			assert.Equal(t, "SELECT", row["QUERY_TYPE"])
			assert.Equal(t, "COMPUTE_WH", row["WAREHOUSE_NAME"])
			assert.Equal(t, "X-Small", row["WAREHOUSE_SIZE"], "it holds a slot")
			assert.Equal(t, snowflaketest.DefaultUser, row["USER_NAME"])
		})
	}
	// Later, the history query shows as finished.
	var status string
	var end sql.NullTime
	require.NoError(t, arrowDB.QueryRow(`SELECT EXECUTION_STATUS, END_TIME FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(END_TIME_RANGE_END => CURRENT_TIMESTAMP()))
		WHERE QUERY_TEXT = 'SELECT * FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY())' ORDER BY START_TIME DESC LIMIT 1`).Scan(&status, &end))
	assert.Equal(t, "SUCCESS", status)
	assert.True(t, end.Valid)
}

// TestQueryHistoryRecordsStatements runs statements of every kind on one
// session and reads them back by session: the QUERY_TAG in force when each
// ran (the session's, or the statement's own, as startline sets it), the
// outcome, the type, the ids the responses carried.
func TestQueryHistoryRecordsStatements(t *testing.T) {
	s, db := open(t, snowflaketest.Options{})
	ctx := context.Background()
	c, err := db.Conn(ctx)
	require.NoError(t, err)
	defer c.Close()
	for _, q := range []string{
		`CREATE TABLE "H" ("ID" NUMBER(38,0))`,
		`ALTER SESSION SET QUERY_TAG = 'tag-a'`,
		`INSERT INTO "H" VALUES (1), (2)`,
		`ALTER SESSION SET QUERY_TAG = 'tag-b'`,
	} {
		_, err := c.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	_, err = c.ExecContext(ctx, `SELECT * FROM "MISSING"`)
	require.Error(t, err)
	rows, err := c.QueryContext(gosnowflake.WithQueryTag(ctx, `{"startline":"run-1","worker":3,"phase":"measure"}`), `SELECT "ID" FROM "H"`)
	require.NoError(t, err)
	for rows.Next() {
	}
	require.NoError(t, rows.Close())

	type rec struct{ text, typ, tag, status, code string }
	var got []rec
	hist, err := c.QueryContext(ctx, `SELECT QUERY_TEXT, QUERY_TYPE, QUERY_TAG, EXECUTION_STATUS, ERROR_CODE
		FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY_BY_SESSION(END_TIME_RANGE_END => CURRENT_TIMESTAMP())) ORDER BY START_TIME`)
	require.NoError(t, err)
	for hist.Next() {
		var r rec
		var tag, code sql.NullString
		require.NoError(t, hist.Scan(&r.text, &r.typ, &tag, &r.status, &code))
		r.tag, r.code = tag.String, code.String
		got = append(got, r)
	}
	require.NoError(t, hist.Close())
	require.GreaterOrEqual(t, len(got), 6)
	got = got[len(got)-6:] // before them: the driver's own statements, if any
	assert.Equal(t, []rec{
		{`CREATE TABLE "H" ("ID" NUMBER(38,0))`, "CREATE_TABLE", "", "SUCCESS", ""},
		{`ALTER SESSION SET QUERY_TAG = 'tag-a'`, "ALTER_SESSION", "", "SUCCESS", ""},
		{`INSERT INTO "H" VALUES (1), (2)`, "INSERT", "tag-a", "SUCCESS", ""},
		{`ALTER SESSION SET QUERY_TAG = 'tag-b'`, "ALTER_SESSION", "tag-a", "SUCCESS", ""},
		{`SELECT * FROM "MISSING"`, "SELECT", "tag-b", "FAILED_WITH_ERROR", "002003"},
		{`SELECT "ID" FROM "H"`, "SELECT", `{"startline":"run-1","worker":3,"phase":"measure"}`, "SUCCESS", ""},
	}, got)

	// The QUERY_IDs are the ones the server answered with, and the row
	// counts are the results'.
	var ids []string
	for _, st := range s.Statements() {
		ids = append(ids, st.QueryID)
	}
	var id string
	var produced int64
	require.NoError(t, c.QueryRowContext(ctx, `SELECT QUERY_ID, ROWS_PRODUCED FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY_BY_SESSION())
		WHERE QUERY_TEXT = 'SELECT "ID" FROM "H"'`).Scan(&id, &produced))
	assert.Contains(t, ids, id)
	assert.Equal(t, int64(2), produced)
}

// TestQueryHistoryLimitAndTimeRange checks RESULT_LIMIT (default 100, at
// most 10000, the most recently ended first) and the END_TIME range, given
// as bind variables, TO_TIMESTAMP_LTZ, CURRENT_TIMESTAMP() and DATEADD.
func TestQueryHistoryLimitAndTimeRange(t *testing.T) {
	_, db := open(t, snowflaketest.Options{})
	ctx := gosnowflake.WithQueryTag(context.Background(), "early")
	for range 110 {
		_, err := db.ExecContext(ctx, `SELECT 1`)
		require.NoError(t, err)
	}
	time.Sleep(5 * time.Millisecond)
	between := time.Now()
	time.Sleep(5 * time.Millisecond)
	late := gosnowflake.WithQueryTag(context.Background(), "late")
	for range 3 {
		_, err := db.ExecContext(late, `SELECT 2`)
		require.NoError(t, err)
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		require.NoError(t, db.QueryRow(q, args...).Scan(&n), q)
		return n
	}
	assert.Equal(t, 3, count(`SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(RESULT_LIMIT => 4)) WHERE QUERY_TAG = 'late'`),
		"the limit keeps the latest: this query, running, and the 3 late ones")
	assert.Equal(t, 100, count(`SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY())`), "RESULT_LIMIT's default")
	assert.Equal(t, 5, count(`SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(RESULT_LIMIT => 5))`))
	assert.Equal(t, 110, count(`SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(RESULT_LIMIT => 10000)) WHERE QUERY_TAG = 'early'`))
	for _, bad := range []string{"0", "10001", "'many'"} {
		_, err := db.Query(`SELECT * FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(RESULT_LIMIT => ` + bad + `))`)
		var se *gosnowflake.SnowflakeError
		require.ErrorAs(t, err, &se, bad)
		assert.Equal(t, 1008, se.Number)
		assert.Contains(t, se.Message, "RESULT_LIMIT")
	}

	after := `SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(END_TIME_RANGE_START => %s, END_TIME_RANGE_END => CURRENT_TIMESTAMP(), RESULT_LIMIT => 10000)) WHERE QUERY_TAG IN ('early', 'late')`
	assert.Equal(t, 3, count(strings.Replace(after, "%s", "?", 1), between), "a bound time")
	assert.Equal(t, 3, count(strings.Replace(after, "%s", "TO_TIMESTAMP_LTZ(?)", 1), between))
	assert.Equal(t, 3, count(strings.Replace(after, "%s", "?", 1), gosnowflake.DataTypeTimestampLtz, between),
		"bound as TIMESTAMP_LTZ, which a real account compares as an instant")
	assert.Equal(t, 3, count(strings.Replace(after, "%s", "TO_TIMESTAMP_LTZ(?, 3)", 1), between.UnixMilli()),
		"epoch milliseconds, the same on a real account whatever its TIMEZONE")
	assert.Equal(t, 3, count(strings.Replace(after, "%s", "'"+between.UTC().Format("2006-01-02 15:04:05.000000000")+"'::TIMESTAMP_LTZ", 1)))
	assert.Equal(t, 113, count(strings.Replace(after, "%s", "DATEADD('minutes', -5, CURRENT_TIMESTAMP())", 1)))
	assert.Equal(t, 110, count(`SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(END_TIME_RANGE_END => ?, RESULT_LIMIT => 10000)) WHERE QUERY_TAG IN ('early', 'late')`, between))
	assert.Equal(t, 3, count(`SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(RESULT_LIMIT => 10000)) WHERE QUERY_TAG IN ('early', 'late') AND END_TIME >= ?`, between),
		"a WHERE clause on END_TIME")
	_, err := db.Query(`SELECT * FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(END_TIME_RANGE_START => CURRENT_TIMESTAMP(), END_TIME_RANGE_END => DATEADD(hour, -1, CURRENT_TIMESTAMP())))`)
	require.Error(t, err, "an end before the start")
	_, err = db.Query(`SELECT * FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(SESSION_ID => 1))`)
	require.Error(t, err, "SESSION_ID belongs to QUERY_HISTORY_BY_SESSION")

	// A WHERE clause on the time range and the order as asked.
	rows, err := db.Query(`SELECT START_TIME, END_TIME, TOTAL_ELAPSED_TIME FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(RESULT_LIMIT => 10000))
		WHERE QUERY_TAG = 'late' AND START_TIME >= ? ORDER BY START_TIME`, between)
	require.NoError(t, err)
	var prev time.Time
	n := 0
	for rows.Next() {
		var start, end time.Time
		var total int64
		require.NoError(t, rows.Scan(&start, &end, &total))
		assert.False(t, start.Before(prev))
		assert.False(t, end.Before(start))
		assert.False(t, start.Before(between.Truncate(time.Millisecond)))
		prev = start
		n++
	}
	require.NoError(t, rows.Close())
	assert.Equal(t, 3, n)
}

// TestQueryHistoryPaging reads more statements than RESULT_LIMIT allows in
// pages, moving END_TIME_RANGE_END back to the oldest END_TIME read (plus
// the millisecond it was rounded to: both ends are inclusive), and finds
// every one exactly once: the way a reader of a long run's history pages.
func TestQueryHistoryPaging(t *testing.T) {
	_, db := open(t, snowflaketest.Options{})
	start := time.Now()
	ctx := gosnowflake.WithQueryTag(context.Background(), "page")
	for range 250 {
		_, err := db.ExecContext(ctx, `SELECT 1`)
		require.NoError(t, err)
	}
	seen := map[string]int{}
	end := time.Now()
	for page := 0; ; page++ {
		require.Less(t, page, 20, "paging makes progress")
		rows, err := db.Query(`SELECT QUERY_ID, QUERY_TAG, END_TIME FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(
			END_TIME_RANGE_START => ?, END_TIME_RANGE_END => ?, RESULT_LIMIT => 100))`, start, end)
		require.NoError(t, err)
		n, fresh := 0, 0
		var oldest time.Time
		for rows.Next() {
			var id, tag string
			var at time.Time
			require.NoError(t, rows.Scan(&id, &tag, &at))
			n++
			if tag == "page" {
				if seen[id] == 0 {
					fresh++
				}
				seen[id]++
			}
			if oldest.IsZero() || at.Before(oldest) {
				oldest = at
			}
		}
		require.NoError(t, rows.Close())
		if n < 100 || fresh == 0 {
			break
		}
		end = oldest.Add(time.Millisecond)
	}
	assert.Len(t, seen, 250, "every statement read")
}

// TestQueryHistoryBySessionWarehouseUser reads one session's, one
// warehouse's and one user's statements, by argument and by default.
func TestQueryHistoryBySessionWarehouseUser(t *testing.T) {
	s := snowflaketest.New(snowflaketest.Options{Users: map[string]string{"alice": "pw-alice-123", "bob": "pw-bob-1234"}})
	t.Cleanup(s.Close)
	dbFor := func(user, pw, wh string) *sql.DB {
		cfg := s.Config(user, pw)
		cfg.Warehouse = wh
		db := sql.OpenDB(gosnowflake.NewConnector(gosnowflake.SnowflakeDriver{}, *cfg))
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	alice, bob := dbFor("alice", "pw-alice-123", "A_WH"), dbFor("bob", "pw-bob-1234", "B_WH")
	ctx := context.Background()
	for _, db := range []*sql.DB{alice, bob} {
		for range 3 {
			_, err := db.ExecContext(gosnowflake.WithQueryTag(ctx, "who"), `SELECT 1`)
			require.NoError(t, err)
		}
	}
	var bobSession int64
	for _, st := range s.Statements() {
		if st.User == "bob" {
			bobSession = st.Session
		}
	}
	count := func(db *sql.DB, fn string) int {
		t.Helper()
		var n int
		require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.`+fn+`) WHERE QUERY_TAG = 'who'`).Scan(&n), fn)
		return n
	}
	assert.Equal(t, 6, count(alice, "QUERY_HISTORY()"))
	assert.Equal(t, 3, count(alice, "QUERY_HISTORY_BY_SESSION()"), "CURRENT_SESSION by default")
	assert.Equal(t, 3, count(alice, "QUERY_HISTORY_BY_SESSION(SESSION_ID => "+strconv.FormatInt(bobSession, 10)+")"))
	assert.Equal(t, 3, count(alice, "QUERY_HISTORY_BY_SESSION(SESSION_ID => CURRENT_SESSION())"))
	assert.Equal(t, 3, count(alice, "QUERY_HISTORY_BY_WAREHOUSE()"), "CURRENT_WAREHOUSE by default")
	assert.Equal(t, 3, count(alice, "QUERY_HISTORY_BY_WAREHOUSE(WAREHOUSE_NAME => 'b_wh')"))
	assert.Equal(t, 3, count(alice, "QUERY_HISTORY_BY_USER(USER_NAME => 'bob')"))
	assert.Equal(t, 3, count(bob, "QUERY_HISTORY_BY_USER()"), "CURRENT_USER by default")
	var n int
	require.NoError(t, alice.QueryRow(`SELECT COUNT(*) FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY_BY_SESSION(SESSION_ID => ?)) WHERE QUERY_TAG = ?`,
		bobSession, "who").Scan(&n), "binds in the arguments and in the WHERE clause")
	assert.Equal(t, 3, n)
	_, err := alice.Query(`SELECT * FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(START_TIME => CURRENT_TIMESTAMP()))`)
	var se *gosnowflake.SnowflakeError
	require.ErrorAs(t, err, &se, "an argument the function does not have")
	assert.Contains(t, se.Message, "START_TIME")
}
