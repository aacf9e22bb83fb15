package pgxnative_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/pgxnative"
)

// BenchmarkWarm compares ways to open benchConns PostgreSQL connections:
// Warm with its default bound, a bare errgroup of DefaultParallel calling
// pgx.Connect, and pgx.Connect one after another. Each reports ms per
// warm-up; closing the connections is not timed.
//
// The server must accept benchConns more connections (PostgreSQL's default
// max_connections is 100); STARTLINE_BENCH_WARM_CONNS changes the number.
func BenchmarkWarm(b *testing.B) {
	dsn := testenv.Postgres(b)
	n := benchConns(b)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	name := appName("startline_bench")
	cfg.RuntimeParams["application_name"] = name
	ctx := context.Background()

	b.Run("pool.Warm", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			p := open(b, dsn, int32(n))
			b.StartTimer()
			if err := p.Warm(ctx, pool.WarmOptions{Conns: n}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			p.Close()
			waitGone(b, dsn, p.Pgx().Config().ConnConfig.RuntimeParams["application_name"])
			b.StartTimer()
		}
		reportMS(b)
	})
	connect := func(b *testing.B, parallel int) {
		for range b.N {
			conns := make([]*pgx.Conn, n)
			var g errgroup.Group
			g.SetLimit(parallel)
			for i := range conns {
				g.Go(func() (err error) {
					conns[i], err = pgx.ConnectConfig(ctx, cfg)
					return err
				})
			}
			err := g.Wait()
			b.StopTimer()
			for _, c := range conns {
				if c != nil {
					c.Close(ctx)
				}
			}
			if err != nil {
				b.Fatal(err)
			}
			waitGone(b, dsn, name)
			b.StartTimer()
		}
		reportMS(b)
	}
	b.Run("errgroup16-pgx.Connect", func(b *testing.B) { connect(b, pool.DefaultParallel) })
	b.Run("serial-pgx.Connect", func(b *testing.B) { connect(b, 1) })
}

func benchConns(b *testing.B) int {
	s := os.Getenv("STARTLINE_BENCH_WARM_CONNS")
	if s == "" {
		return 100
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("STARTLINE_BENCH_WARM_CONNS=%q: want a positive integer", s)
	}
	return n
}

func reportMS(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/warm")
}

// waitGone waits until the server has no connection named name left, so
// that the next warm-up is not refused for want of connection slots:
// backends exit after their client has gone.
func waitGone(b *testing.B, dsn, name string) {
	admin, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(context.Background())
	for range 1000 {
		var n int
		if err := admin.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("connections named %s still open", name)
}

// BenchmarkSessionQuery runs a one-row query by primary key on one pinned
// session, through the generic Session.Query and through the typed
// Conn().QueryRow, and reports beside ns/op (a round trip) the client's own
// CPU time per query (user+system, from getrusage): on a machine where
// client and server share the cores, that decides how many queries per
// second the server is left to serve.
func BenchmarkSessionQuery(b *testing.B) {
	dsn := testenv.Postgres(b)
	ctx := context.Background()
	p := open(b, dsn, 1)
	defer p.Close()
	s, err := p.Session(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const q = "SELECT g FROM generate_series(1, 1000) g WHERE g = $1"
	run := func(b *testing.B, query func(i int32) error) {
		if err := query(1); err != nil { // prepares
			b.Fatal(err)
		}
		b.ReportAllocs()
		cpu0 := cpuTime(b)
		var i int32
		for b.Loop() {
			i = i%1000 + 1
			if err := query(i); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
	}
	b.Run("Session.Query", func(b *testing.B) {
		run(b, func(i int32) error {
			n, err := s.Query(ctx, q, i)
			if err == nil && n != 1 {
				err = fmt.Errorf("got %d rows, want 1", n)
			}
			return err
		})
	})
	b.Run("Conn.QueryRow", func(b *testing.B) {
		c := s.(*pgxnative.Session).Conn()
		run(b, func(i int32) error {
			var g int32
			return c.QueryRow(ctx, q, i).Scan(&g)
		})
	})
}

// cpuTime returns the process's user and system CPU time so far, in ns.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
