package snowflaketest_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/snowflakedb/gosnowflake"

	"github.com/startline/startline/pool/snowflake/snowflaketest"
)

// BenchmarkQuery measures a query through gosnowflake against the local
// server over loopback HTTP, in each result format, for 1 and 100 rows of
// five typed columns (NUMBER, VARCHAR, NUMBER(18,2), FLOAT,
// TIMESTAMP_NTZ). ns/op, B/op and allocs/op are the driver's and the
// server's together (one process); server-µs/op is the server's own time
// per statement, from receiving it to having encoded its result.
//
//	go test -run '^$' -bench Query -benchmem ./pool/snowflake/snowflaketest/
func BenchmarkQuery(b *testing.B) {
	for _, format := range []string{"arrow", "json"} {
		for _, n := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/rows=%d", format, n), func(b *testing.B) {
				s := snowflaketest.New(snowflaketest.Options{})
				defer s.Close()
				if _, err := s.DB().Exec(`CREATE TABLE "ACCOUNTS" ("ID" NUMBER(38,0), "NAME" VARCHAR, "BALANCE" NUMBER(18,2), "SCORE" FLOAT, "AT" TIMESTAMP_NTZ)`); err != nil {
					b.Fatal(err)
				}
				for i := range n {
					if _, err := s.DB().Exec(`INSERT INTO "ACCOUNTS" VALUES (?, ?, ?, ?, ?)`, i, fmt.Sprintf("user-%07d", i),
						float64(i)*1.25, float64(i)/3, "2026-03-04 05:06:07.123456789"); err != nil {
						b.Fatal(err)
					}
				}
				cfg := s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)
				off, f := "FALSE", format
				cfg.Params["USE_CACHED_RESULT"] = &off // every query executes
				cfg.Params["GO_QUERY_RESULT_FORMAT"] = &f
				db := sql.OpenDB(gosnowflake.NewConnector(gosnowflake.SnowflakeDriver{}, *cfg))
				defer db.Close()
				db.SetMaxOpenConns(1)
				ctx := context.Background()
				read := func() {
					rows, err := db.QueryContext(ctx, `SELECT "ID", "NAME", "BALANCE", "SCORE", "AT" FROM "ACCOUNTS"`)
					if err != nil {
						b.Fatal(err)
					}
					var (
						id, name, balance string
						score             float64
						at                time.Time
						got               int
					)
					for rows.Next() {
						if err := rows.Scan(&id, &name, &balance, &score, &at); err != nil {
							b.Fatal(err)
						}
						got++
					}
					if err := rows.Close(); err != nil {
						b.Fatal(err)
					}
					if got != n {
						b.Fatalf("got %d rows, want %d", got, n)
					}
				}
				read() // the login
				before := len(s.Statements())
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					read()
				}
				b.StopTimer()
				var server time.Duration
				sts := s.Statements()[before:]
				for _, st := range sts {
					server += st.End.Sub(st.Start)
				}
				b.ReportMetric(float64(server.Microseconds())/float64(len(sts)), "server-µs/op")
			})
		}
	}
}

// BenchmarkQueryHistory reads 10,000 statements of the history in one
// query (RESULT_LIMIT's maximum), as a reader of a run's timings would:
// the server materializes them into a table for the query.
//
//	go test -run '^$' -bench QueryHistory -benchmem ./pool/snowflake/snowflaketest/
func BenchmarkQueryHistory(b *testing.B) {
	s := snowflaketest.New(snowflaketest.Options{})
	defer s.Close()
	db := sql.OpenDB(gosnowflake.NewConnector(gosnowflake.SnowflakeDriver{}, *s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)))
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := gosnowflake.WithQueryTag(context.Background(), `{"startline":"run-bench","worker":1,"phase":"measure"}`)
	for range 10000 {
		if _, err := db.ExecContext(ctx, `SELECT 1`); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rows, err := db.QueryContext(context.Background(), `SELECT QUERY_ID, QUERY_TAG, START_TIME, END_TIME, TOTAL_ELAPSED_TIME,
			COMPILATION_TIME, EXECUTION_TIME, QUEUED_PROVISIONING_TIME, QUEUED_OVERLOAD_TIME
			FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(RESULT_LIMIT => 10000)) WHERE QUERY_TAG LIKE '%"run-bench"%'`)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Close(); err != nil {
			b.Fatal(err)
		}
		if n < 9000 {
			b.Fatalf("read %d rows", n)
		}
	}
}
