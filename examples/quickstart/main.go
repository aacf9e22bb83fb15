// Command quickstart runs a coordinated warmup-then-measure load test on an
// embedded SQLite database, with no server and no network: it seeds a table,
// warms a pool of connections, profiles the table, waits for a start signal
// from an in-process orchestrator, warms up, measures, and prints the startup
// waterfall and the measured latencies.
//
// By default the workers run a closed loop (each starts its next query when
// the last one ends); -rate runs an arrival-rate test instead, with latency
// measured from each query's scheduled start, and the report says what was
// offered against what was achieved, and when the database fell behind;
// -drain-warmup drains the warmup's backlog before the measured window. -warmup steady ends the warmup
// when throughput and latency have settled. -threshold checks the measured
// window and makes the program exit with status 1 when one fails. A
// progress line is drawn on standard error while the run is on.
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -workers 16 -warmup 1s -duration 10s -json result.json
//	go run ./examples/quickstart -rate 2000 -warmup steady -threshold 'p99<50ms' -threshold 'error_rate<0.01'
//	go run ./examples/quickstart -rate 50000 -drain-warmup -threshold 'achieved_ratio>=0.99'
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // the embedded database, pure Go

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/internal/cli"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/sqlpool"
	"github.com/startline/startline/profile"
)

func main() { cli.Main("quickstart", run) }

// warmupFlag is a duration, or "steady" to warm up until steady.
type warmupFlag struct {
	d      time.Duration
	steady bool
}

func (w *warmupFlag) String() string {
	if w.steady {
		return "steady"
	}
	return w.d.String()
}

func (w *warmupFlag) Set(s string) error {
	if s == "steady" {
		w.steady = true
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New(`want a duration such as 2s, or "steady"`)
	}
	w.d, w.steady = d, false
	return nil
}

// run runs the quickstart with the command-line arguments args, writing the
// report to stdout and the progress line to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workers := fs.Int("workers", 8, "concurrent workers, each with its own connection")
	warmup := warmupFlag{d: 2 * time.Second}
	fs.Var(&warmup, "warmup", `warmup before the measured window: a duration, or "steady" to warm up until throughput and latency settle (at most 30s)`)
	duration := fs.Duration("duration", 5*time.Second, "length of the measured window")
	rate := fs.Float64("rate", 0, "arrival rate in queries per second, instead of a closed loop (must be positive)")
	drainWarmup := fs.Bool("drain-warmup", false, "with -rate: drain the warmup's backlog before the measured window opens (a warmup.drain span on the timeline)")
	var thresholds cli.List
	fs.Var(&thresholds, "threshold", "a threshold on the measured window, such as 'p99<50ms', 'error_rate<0.01', 'throughput>1000' or 'point_select:p99<20ms' (repeatable, or comma-separated)")
	progress := fs.Bool("progress", true, "draw a progress line on standard error while the run is on")
	rows := fs.Int("rows", 100_000, "rows to seed the table with")
	jsonPath := fs.String("json", "", "also write the result as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rateSet := false
	fs.Visit(func(f *flag.Flag) { rateSet = rateSet || f.Name == "rate" })

	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the orchestrator below if the run ends early

	dir, err := os.MkdirTemp("", "startline-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "bench.db")+
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return err
	}
	p := sqlpool.New(db, sqlpool.Options{})
	defer p.Close()

	seedStart := time.Now()
	if err := seed(ctx, db, *rows); err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	fmt.Fprintf(stdout, "seeded %d rows into accounts in %s\n\n", *rows, time.Since(seedStart).Round(time.Millisecond))

	// An orchestrator in this process: it starts the run 10ms after the
	// worker reports ready, as one on another host would.
	coord := coordinate.NewLocal(coordinate.LocalOptions{})
	go func() {
		_, _ = coord.StartWhenReady(ctx, coordinate.Readiness{Nodes: 1}, 10*time.Millisecond)
	}()

	sinks := []loadtest.Sink{loadtest.TextSink{W: stdout}}
	if *jsonPath != "" {
		f, err := os.Create(*jsonPath)
		if err != nil {
			return err
		}
		defer f.Close()
		sinks = append(sinks, loadtest.JSONSink{W: f, Indent: true})
	}

	cfg := loadtest.Config{
		Pool:        p,
		Profiler:    &profile.SQLProfiler{DB: db, Dialect: dialect.SQLite},
		Coordinator: coord,
		Workers:     *workers,
		Warmup:      warmup.d,
		Duration:    *duration,
		Thresholds:  thresholds,
		Sinks:       sinks,
		Workload:    workload(),
	}
	if rateSet {
		// Set even when zero or negative, so that New says what is wrong.
		cfg.Rate, cfg.Arrival = *rate, loadtest.ArrivalConstant
	}
	cfg.DrainWarmup = *drainWarmup // New refuses it without -rate
	if warmup.steady {
		cfg.Warmup, cfg.Steady = 0, &loadtest.Steady{Tolerance: 0.25, Max: 30 * time.Second}
	}
	if *progress {
		cfg.Hooks = loadtest.Progress(stderr)
	}
	r, err := loadtest.New(cfg)
	if err != nil {
		return err
	}
	res, err := r.Run(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil // interrupted: the report of what was measured is printed
	}
	if err != nil {
		return err
	}
	return report(res)
}

// report fails if a threshold did; the text report has shown which.
func report(res *loadtest.Result) error {
	if failed := res.FailedThresholds(); len(failed) > 0 {
		return fmt.Errorf("%d of %d thresholds failed", len(failed), len(res.Thresholds))
	}
	return nil
}

// workload reads the accounts table three ways; the parameters come from the
// profile: ids from the key's range, names and regions from sampled values.
func workload() loadtest.Workload {
	accounts := func(w *loadtest.Worker) *profile.Table { return w.Profile().Table("accounts") }
	return loadtest.Workload{
		Tables: []profile.TableSpec{{Table: "accounts", Key: "id", Columns: []string{"name", "region"}, Sample: 1000}},
		Operations: []loadtest.Operation{
			loadtest.QueryOp("point_select", 70, "SELECT id, name, balance FROM accounts WHERE id = ?",
				func(w *loadtest.Worker, buf []any) []any {
					return append(buf, accounts(w).RandomID(w.Rand()))
				}),
			loadtest.QueryOp("name_lookup", 20, "SELECT id, balance FROM accounts WHERE name = ?",
				func(w *loadtest.Worker, buf []any) []any {
					return append(buf, accounts(w).Value("name", w.Rand()))
				}),
			loadtest.QueryOp("region_top", 10,
				"SELECT id, balance FROM accounts WHERE region = ? ORDER BY balance DESC LIMIT 10",
				func(w *loadtest.Worker, buf []any) []any {
					return append(buf, accounts(w).Value("region", w.Rand()))
				}),
		},
	}
}

var regions = []string{"emea", "amer", "apac", "latam", "anz"}

// seed creates the accounts table with n rows.
func seed(ctx context.Context, db *sql.DB, n int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{
		`CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, balance INTEGER NOT NULL, region TEXT NOT NULL)`,
		`CREATE INDEX accounts_name ON accounts (name)`,
		`CREATE INDEX accounts_region_balance ON accounts (region, balance)`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO accounts (id, name, balance, region) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	r := rand.New(rand.NewPCG(1, 2))
	for i := 1; i <= n; i++ {
		if _, err := ins.ExecContext(ctx, i, fmt.Sprintf("user-%07d", i), r.IntN(1_000_000), regions[r.IntN(len(regions))]); err != nil {
			return err
		}
	}
	return tx.Commit()
}
