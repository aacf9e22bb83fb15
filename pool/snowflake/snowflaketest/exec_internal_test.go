package snowflaketest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		pre      []string
	}{
		{`SELECT * FROM t WHERE a = :1 AND b = :2`, `SELECT * FROM t WHERE a = ?1 AND b = ?2`, nil},
		{`SELECT ':1', x::int FROM t`, `SELECT ':1', x::int FROM t`, nil},
		{`SELECT CURRENT_TIMESTAMP(), sysdate( ), current_date()`, `SELECT CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_DATE`, nil},
		{`SELECT "CURRENT_TIMESTAMP()" FROM t`, `SELECT "CURRENT_TIMESTAMP()" FROM t`, nil},
		{`CREATE OR REPLACE TABLE "T" (a INT)`, `CREATE TABLE "T" (a INT)`, []string{`DROP TABLE IF EXISTS "T"`}},
		{`create or replace transient table t2 (a INT)`, `create TABLE t2 (a INT)`, []string{`DROP TABLE IF EXISTS t2`}},
		{`INSERT INTO t VALUES ('it''s :1')`, `INSERT INTO t VALUES ('it''s :1')`, nil},
	} {
		got, pre := translate(tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		assert.Equal(t, tc.pre, pre, tc.in)
	}
}

// The Snowflake dialect's clock (dialect.NowMicros) reads the server's
// clock as the statement runs, to the microsecond.
func TestTranslateEpochNow(t *testing.T) {
	before := time.Now().UnixMicro()
	got, _ := translate(`SELECT DATE_PART(EPOCH_MICROSECOND, SYSDATE()), 'DATE_PART(EPOCH_SECOND, SYSDATE())'`)
	after := time.Now().UnixMicro()
	num, rest, ok := strings.Cut(strings.TrimPrefix(got, "SELECT "), ",")
	require.True(t, ok, got)
	v, err := strconv.ParseInt(num, 10, 64)
	require.NoError(t, err, got)
	assert.GreaterOrEqual(t, v, before)
	assert.LessOrEqual(t, v, after)
	assert.Equal(t, ` 'DATE_PART(EPOCH_SECOND, SYSDATE())'`, rest, "a literal is left alone")
	got, _ = translate(`SELECT date_part(epoch_second, current_timestamp())`)
	assert.Regexp(t, `^SELECT \d{10}$`, got)
}

func TestClassify(t *testing.T) {
	for q, want := range map[string]string{
		"  -- comment\n SELECT 1":         "select",
		"/* x */ (SELECT 1)":              "select",
		"with a as (select 1) select *":   "select",
		"insert into t values (1)":        "dml",
		"UPDATE t SET a = 1":              "dml",
		"delete from t":                   "dml",
		"ALTER SESSION SET QUERY_TAG='x'": "session",
		"alter warehouse wh resume":       "session",
		"ALTER TABLE t ADD COLUMN b INT":  "ddl",
		"use warehouse wh":                "session",
		"CREATE TABLE t (a INT)":          "ddl",
		"CREATE TABLE warehouse (a INT)":  "ddl",
		"create or replace warehouse w":   "session",
		`DROP WAREHOUSE IF EXISTS "W"`:    "session",
		"":                                "ddl",
	} {
		assert.Equal(t, want, classify(q).name, "%q", q)
	}
}

func TestLex(t *testing.T) {
	assert.Equal(t, []string{"ALTER", "SESSION", "SET", "QUERY_TAG", "=", `'{"a":1, ''b''}'`, ",", "X", "=", "1"},
		lex(`ALTER SESSION SET QUERY_TAG = '{"a":1, ''b''}', X=1;`))
	assert.Equal(t, `{"a":1, 'b'}`, literal(`'{"a":1, ''b''}'`))
	assert.Equal(t, "TRUE", literal("TRUE"))
}
