package main

import (
	"context"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// BenchmarkSelect runs the select-only query in a loop on one connection in
// each mode and reports, beside ns/op (a round trip to the server), the
// client's own CPU time per query (user+system, from getrusage): on a
// machine where client and server share the cores, that is what decides
// how many queries per second the server is left to serve.
func BenchmarkSelect(b *testing.B) {
	dsn := testDSN(b)
	for _, mode := range modes {
		b.Run("mode="+mode, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close(context.Background())
			c, err := newClient(ctx, conn, mode)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if c.stop != nil {
					c.stop()
				}
			}()
			if mode == ModeRaw {
				c.watchCtx(ctx)
			}
			rnd := rand.New(rand.NewPCG(1, 2))
			query := func(aid int64) error {
				switch mode {
				case ModeCache:
					return c.queryRow(ctx, selectSQL, aid)
				case ModePrepared:
					return c.queryRow(ctx, stmtName, aid)
				case ModeRawCtx:
					return c.exec(ctx, aid)
				}
				return c.exec(context.Background(), aid)
			}
			if err := query(1); err != nil { // the first query prepares
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for b.Loop() {
				if err := query(rnd.Int64N(accountsPerScale) + 1); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime returns the process's user and system CPU time so far, in ns.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
