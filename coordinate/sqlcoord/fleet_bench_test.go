package sqlcoord_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/coordtest"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/pool/dialect"
)

// BenchmarkFleetStart is the fleet-start benchmark on PostgreSQL: each
// member a node with a database/sql handle of its own (at most two
// connections), polling with the kit's defaults (a read of the run every
// 100ms plus jitter, a heartbeat every second). Beside the kit's metrics
// it reports db-stmts/s: the statements per second that the waiting fleet
// puts on the database, over a hold of 3s with every member ready (see
// stmtMeter for how they are counted).
func BenchmarkFleetStart(b *testing.B) {
	dsn := testenv.Postgres(b)
	for _, n := range []int{100} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			orch := openDB(b, dsn, 4)
			tb := sqlcoord.Tables{DB: orch, Dialect: dialect.Postgres, Prefix: uniquePrefix()}
			if err := tb.Create(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = tb.Drop(context.Background()) })
			coordtest.FleetStart(b, n, func(b *testing.B) coordtest.Fleet {
				run := runID()
				newBackend := func(tb sqlcoord.Tables) coordinate.Backend {
					be, err := sqlcoord.New(sqlcoord.Options{Tables: tb, RunID: run})
					if err != nil {
						b.Fatal(err)
					}
					return be
				}
				return coordtest.Fleet{
					Orchestrator: func(testing.TB) coordinate.Backend { return newBackend(tb) },
					Member: func(t testing.TB, i int) (coordinate.Backend, func()) {
						h, err := sql.Open("pgx", dsn)
						if err != nil {
							t.Fatal(err)
						}
						h.SetMaxOpenConns(2)
						mt := tb
						mt.DB = h
						return newBackend(mt), func() { h.Close() }
					},
					Hold:  3 * time.Second,
					Meter: stmtMeter(orch, tb.Prefix),
				}
			})
		})
	}
}

// uniquePrefix is a table prefix no other test uses.
func uniquePrefix() string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return "slt_" + hex.EncodeToString(r[:]) + "_"
}

// openDB opens dsn with at most conns connections, closed when the
// benchmark ends.
func openDB(b testing.TB, dsn string, conns int) *sql.DB {
	h, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	h.SetMaxOpenConns(conns)
	b.Cleanup(func() { h.Close() })
	if err := h.Ping(); err != nil {
		b.Fatal(err)
	}
	return h
}

// stmtMeter counts the statements on the database from one call to the
// next, per second: from pg_stat_statements, the calls of statements that
// name the tables of prefix, when the extension is loaded; otherwise the
// transactions committed in the database (pg_stat_database.xact_commit:
// each statement of the kit is a transaction of its own), which also
// counts whatever else runs on that database meanwhile, so run it on a
// database of its own (STARTLINE_POSTGRES_DSN). Which one it used it logs.
// A server flushes its counters about once a second, which a hold of some
// seconds at a steady rate averages out.
func stmtMeter(h *sql.DB, prefix string) func(testing.TB) func() map[string]float64 {
	return func(tb testing.TB) func() map[string]float64 {
		ctx := context.Background()
		source := "pg_stat_statements"
		q := `SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query LIKE '%' || $1 || '%'`
		var n0 int64
		if err := h.QueryRowContext(ctx, q, prefix).Scan(&n0); err != nil {
			source = "pg_stat_database.xact_commit"
			q = `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database() AND $1::text IS NOT NULL`
			if err := h.QueryRowContext(ctx, q, prefix).Scan(&n0); err != nil {
				tb.Fatalf("counting statements: %v", err)
			}
		}
		t0 := time.Now()
		return func() map[string]float64 {
			var n1 int64
			if err := h.QueryRowContext(ctx, q, prefix).Scan(&n1); err != nil {
				tb.Fatalf("counting statements: %v", err)
			}
			tb.Logf("db-stmts/s from %s", source)
			return map[string]float64{"db-stmts/s": float64(n1-n0) / time.Since(t0).Seconds()}
		}
	}
}
