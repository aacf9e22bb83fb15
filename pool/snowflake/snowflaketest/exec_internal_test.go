package snowflaketest

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
