package snowflaketest_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strconv"
	"testing"
	"time"

	"github.com/snowflakedb/gosnowflake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool/snowflake/snowflaketest"
)

// openWith opens a database/sql handle on s whose sessions log in with
// the given session parameters.
func openWith(t *testing.T, s *snowflaketest.Server, params map[string]string) *sql.DB {
	t.Helper()
	cfg := s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)
	for k, v := range params {
		cfg.Params[k] = &v
	}
	db := sql.OpenDB(gosnowflake.NewConnector(gosnowflake.SnowflakeDriver{}, *cfg))
	t.Cleanup(func() { assert.NoError(t, db.Close()) })
	return db
}

// typedRow is one row of the table below, scanned into typed
// destinations: what a program reads, whatever the result format.
type typedRow struct {
	ID     int64
	N      sql.NullInt64
	Small  sql.NullInt64
	Money  sql.NullString // NUMBER(18,2): the driver hands out the decimal text
	Neg    sql.NullString // NUMBER(10,3)
	Real   sql.NullFloat64
	Text   sql.NullString
	Bool   sql.NullBool
	Date   sql.NullTime
	NTZ    sql.NullTime
	NTZ3   sql.NullTime
	LTZ    sql.NullTime
	TZ     sql.NullTime
	TZ3    sql.NullTime
	Binary []byte
}

const typesTable = `CREATE OR REPLACE TABLE "TYPES" ("ID" NUMBER(38,0), "N" NUMBER(38,0), "SMALL" NUMBER(4,0),
	"MONEY" NUMBER(18,2), "NEG" NUMBER(10,3), "REAL" FLOAT, "TEXT" VARCHAR, "BOOL" BOOLEAN, "DATE" DATE,
	"NTZ" TIMESTAMP_NTZ, "NTZ3" TIMESTAMP_NTZ(3), "LTZ" TIMESTAMP_LTZ, "TZ" TIMESTAMP_TZ, "TZ3" TIMESTAMP_TZ(3), "BIN" BINARY)`

// TestArrowAndJSONDecodeAlike writes rows of every type the server serves,
// with NULLs of each, reads them back through gosnowflake in Arrow (the
// default) and in JSON (asked for at login and by ALTER SESSION), and
// compares what the driver hands out, value by value.
func TestArrowAndJSONDecodeAlike(t *testing.T) {
	s, arrowDB := open(t, snowflaketest.Options{})
	jsonDB := openWith(t, s, map[string]string{"GO_QUERY_RESULT_FORMAT": "json"})
	ctx := context.Background()
	_, err := arrowDB.ExecContext(ctx, typesTable)
	require.NoError(t, err)
	ntz := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	// Bound through the driver. A decimal goes as text: gosnowflake 1.19.1
	// formats a float64 bind with float32 precision (123456789.01 would
	// arrive as 1.2345679e+08), and a []byte needs DataTypeBinary, without
	// which it is sent as a JSON array.
	_, err = arrowDB.ExecContext(ctx, `INSERT INTO "TYPES" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		int64(1), int64(9007199254740993), int64(-7), "123456789.01", -1.5, 7.25, "seven é", true, "2026-03-04",
		ntz, ntz, "2026-03-04 05:06:07.123456789+00:00", "2026-03-04 05:06:07.123456789+01:00", "2026-03-04 05:06:07.123456789-05:30",
		gosnowflake.DataTypeBinary, []byte{0, 1, 0xfe, 0xff})
	require.NoError(t, err)
	_, err = arrowDB.ExecContext(ctx, `INSERT INTO "TYPES" ("ID") VALUES (2)`) // NULLs of every type
	require.NoError(t, err)
	_, err = arrowDB.ExecContext(ctx, `INSERT INTO "TYPES" VALUES (3, -9223372036854775807, 9999, -98765432109.99, 0.001, -0.5, '', FALSE,
		'1969-12-31', '1969-12-31 23:59:59.5', '2262-04-12 00:00:00.001', '1999-12-31 23:59:59.999+00:00', '1999-12-31 23:59:59.999999999+14:00',
		'1999-12-31 23:59:59-12:00', X'00')`)
	require.NoError(t, err)

	read := func(db *sql.DB) ([]typedRow, []string) {
		t.Helper()
		rows, err := db.QueryContext(ctx, `SELECT * FROM "TYPES" ORDER BY "ID"`)
		require.NoError(t, err)
		defer rows.Close()
		cts, err := rows.ColumnTypes()
		require.NoError(t, err)
		var types []string
		for _, ct := range cts {
			p, sc, _ := ct.DecimalSize()
			types = append(types, ct.DatabaseTypeName()+"("+strconv.FormatInt(p, 10)+","+strconv.FormatInt(sc, 10)+")")
		}
		var out []typedRow
		for rows.Next() {
			var r typedRow
			require.NoError(t, rows.Scan(&r.ID, &r.N, &r.Small, &r.Money, &r.Neg, &r.Real, &r.Text, &r.Bool, &r.Date,
				&r.NTZ, &r.NTZ3, &r.LTZ, &r.TZ, &r.TZ3, &r.Binary))
			out = append(out, r)
		}
		require.NoError(t, rows.Err())
		return out, types
	}
	fromArrow, arrowTypes := read(arrowDB)
	fromJSON, jsonTypes := read(jsonDB)
	st := s.Statements()
	formats := map[string]int{}
	for _, x := range st {
		if x.Kind == "select" {
			formats[x.Format]++
		}
	}
	assert.Equal(t, map[string]int{"arrow": 1, "json": 1}, formats, "one query answered in each format")

	assert.Equal(t, []string{"FIXED(38,0)", "FIXED(38,0)", "FIXED(4,0)", "FIXED(18,2)", "FIXED(10,3)", "REAL(0,0)", "TEXT(0,0)",
		"BOOLEAN(0,0)", "DATE(0,0)", "TIMESTAMP_NTZ(0,0)", "TIMESTAMP_NTZ(0,0)", "TIMESTAMP_LTZ(0,0)", "TIMESTAMP_TZ(0,0)",
		"TIMESTAMP_TZ(0,0)", "BINARY(0,0)"}, arrowTypes)
	assert.Equal(t, arrowTypes, jsonTypes)
	require.Len(t, fromArrow, 3)
	require.Len(t, fromJSON, 3)
	for i := range fromArrow {
		a, j := fromArrow[i], fromJSON[i]
		assert.Equal(t, a.ID, j.ID)
		assert.Equal(t, a.N, j.N, "row %d N", a.ID)
		assert.Equal(t, a.Small, j.Small, "row %d SMALL", a.ID)
		assert.Equal(t, a.Money, j.Money, "row %d MONEY", a.ID)
		assert.Equal(t, a.Neg, j.Neg, "row %d NEG", a.ID)
		assert.Equal(t, a.Real, j.Real, "row %d REAL", a.ID)
		assert.Equal(t, a.Text, j.Text, "row %d TEXT", a.ID)
		assert.Equal(t, a.Bool, j.Bool, "row %d BOOL", a.ID)
		assert.Equal(t, a.Binary, j.Binary, "row %d BIN", a.ID)
		for name, pair := range map[string][2]sql.NullTime{"DATE": {a.Date, j.Date}, "NTZ": {a.NTZ, j.NTZ}, "NTZ3": {a.NTZ3, j.NTZ3},
			"LTZ": {a.LTZ, j.LTZ}, "TZ": {a.TZ, j.TZ}, "TZ3": {a.TZ3, j.TZ3}} {
			assert.Equal(t, pair[0].Valid, pair[1].Valid, "row %d %s", a.ID, name)
			assert.True(t, pair[0].Time.Equal(pair[1].Time), "row %d %s: %v vs %v", a.ID, name, pair[0].Time, pair[1].Time)
			_, offA := pair[0].Time.Zone()
			_, offJ := pair[1].Time.Zone()
			assert.Equal(t, offA, offJ, "row %d %s: the same offset", a.ID, name)
			assert.Equal(t, pair[0].Time.Location().String(), pair[1].Time.Location().String(), "row %d %s", a.ID, name)
		}
	}

	// What both formats must read, not only alike.
	one := fromArrow[0]
	assert.Equal(t, int64(9007199254740993), one.N.Int64, "a value that a float64 would round")
	assert.Equal(t, int64(-7), one.Small.Int64)
	assert.Equal(t, "123456789.01", one.Money.String, "scale 2, beyond int32 when scaled")
	assert.Equal(t, "-1.500", one.Neg.String, "scale 3, with its trailing zeros")
	assert.Equal(t, 7.25, one.Real.Float64)
	assert.Equal(t, "seven é", one.Text.String)
	assert.True(t, one.Bool.Bool)
	assert.True(t, one.Date.Time.Equal(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)))
	assert.True(t, one.NTZ.Time.Equal(ntz), "%v", one.NTZ.Time)
	assert.True(t, one.NTZ3.Time.Equal(ntz.Truncate(time.Millisecond)), "scale 3 keeps milliseconds: %v", one.NTZ3.Time)
	assert.True(t, one.LTZ.Time.Equal(ntz), "%v", one.LTZ.Time)
	assert.True(t, one.TZ.Time.Equal(ntz.Add(-time.Hour)), "%v", one.TZ.Time)
	_, off := one.TZ.Time.Zone()
	assert.Equal(t, 3600, off, "TIMESTAMP_TZ keeps its offset")
	_, off = one.TZ3.Time.Zone()
	assert.Equal(t, -(5*3600 + 1800), off)
	assert.True(t, one.TZ3.Time.Equal(time.Date(2026, 3, 4, 5, 6, 7, 123000000, time.FixedZone("", -(5*3600+1800)))), "%v", one.TZ3.Time)
	assert.Equal(t, []byte{0, 1, 0xfe, 0xff}, one.Binary)

	null := fromArrow[1]
	assert.Equal(t, typedRow{ID: 2}, null, "every column NULL")

	three := fromArrow[2]
	assert.Equal(t, int64(-9223372036854775807), three.N.Int64)
	assert.Equal(t, "-98765432109.99", three.Money.String)
	assert.Equal(t, "0.001", three.Neg.String)
	assert.True(t, three.Bool.Valid && !three.Bool.Bool)
	assert.Equal(t, "", three.Text.String)
	assert.True(t, three.Text.Valid, "an empty text is not NULL")
	assert.True(t, three.Date.Time.Equal(time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)), "before the epoch: %v", three.Date.Time)
	assert.True(t, three.NTZ.Time.Equal(time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC)), "before the epoch: %v", three.NTZ.Time)
	assert.True(t, three.NTZ3.Time.Equal(time.Date(2262, 4, 12, 0, 0, 0, 1000000, time.UTC)), "beyond int64 nanoseconds: %v", three.NTZ3.Time)
	_, off = three.TZ.Time.Zone()
	assert.Equal(t, 14*3600, off)
	assert.Equal(t, []byte{0}, three.Binary)
}

// TestSessionTimezoneDecodesLTZ sets TIMEZONE at login: the server hands
// it back, and the driver shows TIMESTAMP_LTZ values in that zone in both
// formats.
func TestSessionTimezoneDecodesLTZ(t *testing.T) {
	s := snowflaketest.New(snowflaketest.Options{})
	t.Cleanup(s.Close)
	ctx := context.Background()
	var got []time.Time
	for _, format := range []string{"arrow", "json"} {
		db := openWith(t, s, map[string]string{"TIMEZONE": "America/New_York", "GO_QUERY_RESULT_FORMAT": format})
		_, err := db.ExecContext(ctx, `CREATE OR REPLACE TABLE "L" ("AT" TIMESTAMP_LTZ)`)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, `INSERT INTO "L" VALUES ('2026-07-01 12:00:00+00:00')`)
		require.NoError(t, err)
		var at time.Time
		require.NoError(t, db.QueryRowContext(ctx, `SELECT "AT" FROM "L"`).Scan(&at))
		got = append(got, at)
	}
	for _, at := range got {
		assert.Equal(t, "America/New_York", at.Location().String())
		assert.Equal(t, 8, at.Hour(), "12:00 UTC is 08:00 in New York in July")
	}
}

// TestResultFormatByAlterSession switches a session to JSON and back with
// ALTER SESSION, and refuses a format that does not exist.
func TestResultFormatByAlterSession(t *testing.T) {
	s, db := open(t, snowflaketest.Options{})
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	var n int64
	for _, q := range []string{
		`SELECT 1`,
		`ALTER SESSION SET GO_QUERY_RESULT_FORMAT = 'JSON'`,
		`SELECT 2`,
		`ALTER SESSION SET GO_QUERY_RESULT_FORMAT = arrow`,
		`SELECT 3`,
		`ALTER SESSION SET GO_QUERY_RESULT_FORMAT = 'json'`,
		`ALTER SESSION UNSET GO_QUERY_RESULT_FORMAT`,
		`SELECT 4`,
	} {
		if q[0] == 'S' {
			require.NoError(t, conn.QueryRowContext(ctx, q).Scan(&n), q)
			continue
		}
		_, err := conn.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	formats := map[string]string{}
	for _, st := range s.Statements() {
		formats[st.SQL] = st.Format
	}
	assert.Equal(t, "arrow", formats["SELECT 1"])
	assert.Equal(t, "json", formats["SELECT 2"])
	assert.Equal(t, "arrow", formats["SELECT 3"])
	assert.Equal(t, "arrow", formats["SELECT 4"], "UNSET goes back to the default")
	assert.Equal(t, "json", formats[`ALTER SESSION SET GO_QUERY_RESULT_FORMAT = 'JSON'`], "statements without rows answer in JSON")

	_, err = conn.ExecContext(ctx, `ALTER SESSION SET GO_QUERY_RESULT_FORMAT = 'XML'`)
	var se *gosnowflake.SnowflakeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 1008, se.Number)
	assert.Contains(t, se.Message, "GO_QUERY_RESULT_FORMAT")
}

// TestArrowBatchesOnlyForArrow reads a result through the driver's Arrow
// batch API, which works only when the server answered in Arrow: proof
// from the driver's side of the format it received.
func TestArrowBatchesOnlyForArrow(t *testing.T) {
	s, arrowDB := open(t, snowflaketest.Options{})
	jsonDB := openWith(t, s, map[string]string{"GO_QUERY_RESULT_FORMAT": "JSON"})
	ctx := gosnowflake.WithArrowBatches(context.Background())
	batches := func(db *sql.DB) (int64, error) {
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		var n int64
		err = conn.Raw(func(x any) error {
			rows, err := x.(driver.QueryerContext).QueryContext(ctx, `SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3`, nil)
			if err != nil {
				return err
			}
			defer rows.Close()
			bs, err := rows.(gosnowflake.SnowflakeRows).GetArrowBatches()
			if err != nil {
				return err
			}
			for _, b := range bs {
				recs, err := b.Fetch()
				if err != nil {
					return err
				}
				for _, r := range *recs {
					n += r.NumRows()
					r.Release()
				}
			}
			return nil
		})
		return n, err
	}
	n, err := batches(arrowDB)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	_, err = batches(jsonDB)
	require.Error(t, err, "a JSON answer has no Arrow batches")
}

// TestExpressionTypes types columns that no table declares: by CAST, by
// COUNT, by CURRENT_TIMESTAMP(), and by their values.
func TestExpressionTypes(t *testing.T) {
	_, db := open(t, snowflaketest.Options{})
	ctx := context.Background()
	_, err := db.ExecContext(ctx, `CREATE TABLE "E" ("X" NUMBER(38,0))`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO "E" VALUES (1), (2)`)
	require.NoError(t, err)
	rows, err := db.QueryContext(ctx, `SELECT CAST(12.5 AS NUMBER(10,2)) AS "A", COUNT(*) AS "C", CURRENT_TIMESTAMP() AS "T",
		'x' AS "S", 2.5 AS "F", MAX("X") AS "M" FROM "E"`)
	require.NoError(t, err)
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	require.NoError(t, err)
	var names []string
	for _, ct := range cts {
		names = append(names, ct.DatabaseTypeName())
	}
	assert.Equal(t, []string{"FIXED", "FIXED", "TIMESTAMP_LTZ", "TEXT", "REAL", "FIXED"}, names)
	_, scale, _ := cts[0].DecimalSize()
	assert.Equal(t, int64(2), scale)
	require.True(t, rows.Next())
	var a string
	var c int64
	var ts time.Time
	var str string
	var f float64
	var m int64
	require.NoError(t, rows.Scan(&a, &c, &ts, &str, &f, &m))
	assert.Equal(t, "12.50", a)
	assert.Equal(t, int64(2), c)
	assert.WithinDuration(t, time.Now(), ts, time.Hour, "CURRENT_TIMESTAMP() is now")
	assert.Equal(t, "x", str)
	assert.Equal(t, 2.5, f)
	assert.Equal(t, int64(2), m)
}

// TestBadValueForType reports Snowflake's error when a stored value does
// not read as its column's type.
func TestBadValueForType(t *testing.T) {
	_, db := open(t, snowflaketest.Options{})
	ctx := context.Background()
	_, err := db.ExecContext(ctx, `CREATE TABLE "BAD" ("N" NUMBER(10,0), "B" BOOLEAN)`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO "BAD" VALUES ('not a number', 'maybe')`)
	require.NoError(t, err) // SQLite keeps the text
	var se *gosnowflake.SnowflakeError
	_, err = db.QueryContext(ctx, `SELECT "N" FROM "BAD"`)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 100038, se.Number)
	assert.Contains(t, se.Message, "not a number")
	_, err = db.QueryContext(ctx, `SELECT "B" FROM "BAD"`)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 100037, se.Number)
}

// TestNumberBeyondInt64 serves a NUMBER(38,0) that does not fit an int64:
// in Arrow it is a Decimal128 column, and both formats read the same
// digits. (SQLite stores such a number as a float, so its last digits are
// the float's shortest decimal: a limit of the server, not of the encoding.)
func TestNumberBeyondInt64(t *testing.T) {
	s, arrowDB := open(t, snowflaketest.Options{})
	jsonDB := openWith(t, s, map[string]string{"GO_QUERY_RESULT_FORMAT": "JSON"})
	ctx := context.Background()
	_, err := arrowDB.ExecContext(ctx, `CREATE TABLE "W" ("ID" NUMBER(38,0), "BIG" NUMBER(38,0))`)
	require.NoError(t, err)
	_, err = arrowDB.ExecContext(ctx, `INSERT INTO "W" VALUES (1, '12345678901234567890123'), (2, 5), (3, NULL)`)
	require.NoError(t, err)
	var got [][]sql.NullString
	for _, db := range []*sql.DB{arrowDB, jsonDB} {
		rows, err := db.QueryContext(ctx, `SELECT "BIG" FROM "W" ORDER BY "ID"`)
		require.NoError(t, err)
		var col []sql.NullString
		for rows.Next() {
			var v sql.NullString
			require.NoError(t, rows.Scan(&v))
			col = append(col, v)
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		got = append(got, col)
	}
	want := []sql.NullString{{String: "12345678901234568000000", Valid: true}, {String: "5", Valid: true}, {}}
	assert.Equal(t, want, got[0], "Arrow")
	assert.Equal(t, want, got[1], "JSON")
}
