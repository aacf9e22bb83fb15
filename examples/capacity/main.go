// Command capacity searches for the highest arrival rate at which a query
// meets a service level objective: it runs arrival-rate steps on one warm
// pool (each with its own warmup and measured window), stepping the rate
// up until a step fails, then bisecting between the last rate that passed
// and the first that failed. A step passes when its measured window holds
// every -slo threshold, achieves at least -min-achieved of the rate it
// offered (throughput counts what completed inside the window), errs less
// than -max-error-rate and is not overloaded (its backlog did not grow).
//
// It prints a table of the steps, by rate, and the capacity found, and can
// write the search as JSON ({"capacity": {"max_rate": ..., "steps": [...]}})
// and as an HTML page whose charts draw latency and achieved throughput
// against the offered rate, with the knee marked.
//
// Without -dsn it runs on an embedded SQLite database, with no server.
//
//	go run ./examples/capacity
//	go run ./examples/capacity -dsn postgres://postgres@127.0.0.1:5432/test -query 'SELECT pg_sleep(0.01)' -workers 4 -slo 'p99<50ms' -json capacity.json -html capacity.html
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // the embedded database, pure Go

	"github.com/startline/startline/internal/cli"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/report"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/pgxnative"
	"github.com/startline/startline/pool/sqlpool"
)

func main() { cli.Main("capacity", run) }

type options struct {
	dsn, query         string
	workers            int
	slo                cli.List
	warmup, duration   time.Duration
	search             loadtest.CapacitySearch // the search's flags; SLO and OnStep set in run
	jsonPath, htmlPath string
	progress           bool
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("capacity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dsn, "dsn", "", "PostgreSQL DSN (URL or key=value); empty runs on an embedded SQLite database")
	fs.StringVar(&o.query, "query", "SELECT 1", "the query each operation runs")
	fs.IntVar(&o.workers, "workers", 4, "workers (goroutines), each with its own connection")
	fs.Var(&o.slo, "slo", "a threshold every passing step holds, such as 'p99<50ms' (repeatable, or comma-separated)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "each step's warmup, at the step's rate")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "each step's measured window; keep it much longer than the latency the SLO allows")
	o.search = cli.CapacityDefaults()
	o.search.Budget, o.search.Start = 3*time.Minute, 100
	cli.CapacityFlags(fs, &o.search, "", "the first rate, in operations per second")
	fs.StringVar(&o.jsonPath, "json", "", "write the search as JSON to this file")
	fs.StringVar(&o.htmlPath, "html", "", "write the search as an HTML page to this file")
	fs.BoolVar(&o.progress, "progress", true, "print each step on standard error as it ends")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.query == "" {
		return o, errors.New("-query is empty")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	p, closePool, err := openPool(ctx, o.dsn, o.workers)
	if err != nil {
		return err
	}
	defer closePool()

	cfg := loadtest.Config{
		Pool:        p,
		Workers:     o.workers,
		Warmup:      o.warmup,
		Duration:    o.duration,
		Interval:    min(time.Second, o.duration/2),
		MaxInFlight: 100_000, // an overloaded step queues what it cannot serve rather than drop it
		Drain:       max(loadtest.DefaultDrain, 2*(o.warmup+o.duration)),
		Workload: loadtest.Workload{Operations: []loadtest.Operation{
			loadtest.QueryOp("query", 1, o.query, nil),
		}},
	}
	search := o.search
	search.SLO = o.slo
	if o.slo == nil {
		search.SLO = []string{}
	}
	if o.progress {
		n := 0
		search.OnStep = func(s loadtest.CapacityStep) {
			n++
			verdict := "pass"
			if !s.Pass {
				verdict = "FAIL " + strings.Join(s.Failed, ", ")
			}
			fmt.Fprintf(stderr, "step %d (%s): offered %.1f/s, achieved %.1f/s, p99 %v, backlog %d -> %d: %s\n",
				n, s.Kind, s.OfferedPerS, s.ThroughputPerS, s.Latency.P99.Round(time.Microsecond), s.BacklogStart, s.BacklogEnd, verdict)
		}
	}
	c, err := loadtest.SearchCapacity(ctx, cfg, search)
	if c == nil {
		return err
	}
	if werr := c.WriteText(stdout); werr != nil {
		return werr
	}
	if o.jsonPath != "" {
		b, jerr := json.MarshalIndent(struct {
			Capacity *loadtest.Capacity `json:"capacity"`
		}{c}, "", "  ")
		if jerr != nil {
			return jerr
		}
		if jerr := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); jerr != nil {
			return jerr
		}
	}
	if o.htmlPath != "" {
		if herr := writeHTML(o.htmlPath, c); herr != nil {
			return herr
		}
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Interrupted: what was found is printed. (A step's own error can
		// wrap a cancellation too, such as a warm-up that cancelled its
		// other connections after one failed: that is not an interrupt.)
		return nil
	}
	return err
}

// writeHTML writes the search's page (report.WriteCapacityHTML).
func writeHTML(path string, c *loadtest.Capacity) error {
	return cli.WriteFile(path, func(w io.Writer) error { return report.WriteCapacityHTML(w, c) })
}

// openPool opens a PostgreSQL pool of conns connections on dsn, or, when
// dsn is empty, an embedded SQLite database in a temporary directory.
func openPool(ctx context.Context, dsn string, conns int) (pool.Pool, func(), error) {
	if dsn != "" {
		p, err := pgxnative.Open(ctx, dsn, pgxnative.Options{MaxConns: int32(max(conns, 1))})
		if err != nil {
			return nil, nil, err
		}
		return p, func() { _ = p.Close() }, nil
	}
	dir, err := os.MkdirTemp("", "startline-capacity-")
	if err != nil {
		return nil, nil, err
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "capacity.db")+"?_pragma=busy_timeout(5000)")
	if err == nil {
		// WAL once, on one connection, before the pool warms its own at
		// once: switching the journal takes a lock that busy_timeout does
		// not wait for, and two connections switching it together failed
		// with SQLITE_BUSY. The mode stays in the file.
		_, err = db.ExecContext(ctx, "PRAGMA journal_mode=WAL")
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		os.RemoveAll(dir)
		return nil, nil, err
	}
	p := sqlpool.New(db, sqlpool.Options{})
	return p, func() { _ = p.Close(); os.RemoveAll(dir) }, nil
}
