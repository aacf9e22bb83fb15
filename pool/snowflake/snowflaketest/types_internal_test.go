package snowflaketest

import (
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSelectListTypes(t *testing.T) {
	assert.Equal(t, []string{"NUMBER(10,2)", "NUMBER(18,0)", "TIMESTAMP_LTZ", "", "DOUBLE PRECISION"},
		selectListTypes(`SELECT CAST(x AS NUMBER(10, 2)) AS a, COUNT(*), CURRENT_TIMESTAMP(), f(1, 2), CAST(y AS DOUBLE PRECISION) FROM t WHERE z = 1`, 5))
	assert.Nil(t, selectListTypes(`SELECT * FROM t`, 3), "the list does not line up with the columns")
	assert.Equal(t, []string{"DATE", ""}, selectListTypes(`select distinct current_date(), 'a,b' union select 1, 2`, 2))
}

func TestQueryType(t *testing.T) {
	for q, want := range map[string]string{
		`SELECT 1`:                 "SELECT",
		`insert into t values (1)`: "INSERT",
		`CREATE OR REPLACE TRANSIENT TABLE t (a INT)`: "CREATE_TABLE",
		`CREATE TABLE t AS SELECT 1 AS a`:             "CREATE_TABLE_AS_SELECT",
		`CREATE INDEX i ON t (a)`:                     "CREATE_INDEX",
		`DROP TABLE t`:                                "DROP",
		`ALTER SESSION SET QUERY_TAG = 'x'`:           "ALTER_SESSION",
		`ALTER WAREHOUSE "WH" RESUME IF SUSPENDED`:    "ALTER_WAREHOUSE_RESUME",
		`alter warehouse wh suspend`:                  "ALTER_WAREHOUSE_SUSPEND",
		`USE WAREHOUSE wh`:                            "USE",
		`BEGIN`:                                       "BEGIN_TRANSACTION",
		`COMMIT`:                                      "COMMIT",
		`ALTER TABLE t ADD COLUMN b INT`:              "ALTER_TABLE",
		``:                                            "UNKNOWN",
	} {
		assert.Equal(t, want, queryType(q, classify(q)), "%q", q)
	}
}

func TestScaledNumbers(t *testing.T) {
	for _, tc := range []struct {
		in    any
		scale int64
		want  string
	}{
		{int64(12345), 2, "12345.00"},
		{1.005, 2, "1.01"}, // half away from zero, as written (the float is 1.00499...)
		{2.675, 2, "2.68"},
		{0.125, 2, "0.13"},
		{123456789.01, 2, "123456789.01"},
		{-1.5, 0, "-2"},
		{"0.005", 2, "0.01"},
		{"-0.004", 2, "0.00"},
		{"12345678901234567890.123", 3, "12345678901234567890.123"},
		{int64(-3), 3, "-3.000"},
		{int64(7), 0, "7"},
		{true, 1, "1.0"},
	} {
		v, err := normalizeFixed(tc.in, tc.scale)
		assert.Nil(t, err, "%v", tc.in)
		assert.Equal(t, tc.want, formatScaled(v, tc.scale), "%v scale %d", tc.in, tc.scale)
	}
	v, _ := normalizeFixed("12345678901234567890123", 0)
	assert.IsType(t, &big.Int{}, v, "beyond int64")
	_, err := normalizeFixed("1.2.3", 0)
	assert.NotNil(t, err)
}
