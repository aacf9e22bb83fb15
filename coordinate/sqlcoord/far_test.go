package sqlcoord_test

import (
	"context"
	"database/sql"
	"net/url"
	"testing"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/internal/fartest"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/pool/dialect"
)

// far is the far-apart fleet on PostgreSQL: the database's clock is the
// reference, the orchestrator reaches it directly, each node through a
// proxy of its own, with a handle of its own.
func far(tb testing.TB) fartest.Harness {
	dsn := testenv.Postgres(tb)
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	orch := openDB(tb, dsn, 4)
	tabs := sqlcoord.Tables{DB: orch, Dialect: dialect.Postgres, Prefix: uniquePrefix()}
	if err := tabs.Create(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = tabs.Drop(context.Background()) })
	newBackend := func(tb testing.TB, tabs sqlcoord.Tables, run string) coordinate.Backend {
		be, err := sqlcoord.New(sqlcoord.Options{Tables: tabs, RunID: run})
		if err != nil {
			tb.Fatal(err)
		}
		return be
	}
	return fartest.Harness{
		Upstream: u.Host,
		Run: func(tb testing.TB) (coordinate.Backend, func(testing.TB, string) (coordinate.Backend, func())) {
			run := runID()
			return newBackend(tb, tabs, run), func(tb testing.TB, addr string) (coordinate.Backend, func()) {
				v := *u
				v.Host = addr
				h, err := sql.Open("pgx", v.String())
				if err != nil {
					tb.Fatal(err)
				}
				h.SetMaxOpenConns(2)
				mt := tabs
				mt.DB = h
				return newBackend(tb, mt, run), func() { h.Close() }
			}
		},
	}
}

// TestFarFleet: eight nodes, each 0 to 20ms from PostgreSQL each way with
// jitter and its clock up to ±500ms off, measure their skews within their
// bounds against the database's clock, and none starts before T less its
// bounds.
func TestFarFleet(t *testing.T) { fartest.Test(t, 8, far(t)) }

// BenchmarkFarFleet: how far after T the last of eight far nodes starts.
func BenchmarkFarFleet(b *testing.B) { fartest.Benchmark(b, 8, far(b)) }
