// Command distributed starts one orchestrator and N worker processes that
// begin a load test together through the database: the SQL tables
// coordinator (package sqlcoord), with PostgreSQL's LISTEN/NOTIFY as the fast
// path when the database is PostgreSQL. It prints the merged waterfall of
// every process and the start report: when the start instant T was
// published, when each worker saw it, and how far each worker's first query
// fell from T.
//
//	go run ./examples/distributed -workers 8 -json result.json
//	go run ./examples/distributed -workers 8 -dsn 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//	go run ./examples/distributed -workers 8 -dsn ... -reference
//
// Without -dsn the database is an SQLite file in a temporary folder, so it
// runs on a fresh machine. -reference runs the reference harness's order
// instead: one-second polling and heartbeats, and the RUNNING report and the
// test-start write after the start signal, on the path to the first query.
//
// The same binary is the worker: the orchestrator re-executes itself with
// -role worker.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/pgnotify"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/sqlpool"
	"github.com/startline/startline/timing"
)

// flags are the command's options; workers get theirs from the orchestrator.
type flags struct {
	role      string
	workers   int
	conns     int
	dsn       string
	reference bool
	jsonPath  string
	run       string
	prefix    string
	node      string
	rows      int
	warmup    time.Duration
	duration  time.Duration
	lead      time.Duration
	quiet     bool
	compare   bool
}

func main() {
	var f flags
	flag.StringVar(&f.role, "role", "orchestrator", "orchestrator, or worker (set by the orchestrator for its children)")
	flag.IntVar(&f.workers, "workers", 8, "worker processes")
	flag.IntVar(&f.conns, "conns", 2, "concurrent workers (connections) per process")
	flag.StringVar(&f.dsn, "dsn", "", "database: postgres://... or a go-sql-driver/mysql DSN; empty: an SQLite file in a temporary folder")
	flag.BoolVar(&f.reference, "reference", false, "the reference harness's order: 1s polling, RUNNING and test start after the signal")
	flag.StringVar(&f.jsonPath, "json", "", "write the merged result as JSON to this file")
	flag.StringVar(&f.run, "run", "", "run id (default: dist- and a timestamp)")
	flag.StringVar(&f.prefix, "prefix", "startline_demo_", "table prefix of the coordination tables")
	flag.StringVar(&f.node, "node", "", "worker name (worker role)")
	flag.IntVar(&f.rows, "rows", 10_000, "rows in the table the workload reads")
	flag.DurationVar(&f.warmup, "warmup", 200*time.Millisecond, "warmup before the measured window")
	flag.DurationVar(&f.duration, "duration", time.Second, "measured window")
	flag.DurationVar(&f.lead, "lead", 0, "lead from publishing the start to T (default: 100ms, 10ms with -reference)")
	flag.BoolVar(&f.quiet, "quiet", false, "print only the start report, not the waterfall")
	flag.BoolVar(&f.compare, "compare", false, "run the fast order, then the reference order, and compare their starts side by side (with -json, the reference's result goes to FILE with .reference before its extension)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch {
	case f.role == "worker":
		err = worker(ctx, f)
	case f.compare:
		err = compare(ctx, os.Stdout, f)
	default:
		_, err = orchestrate(ctx, f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "distributed (%s %s): %v\n", f.role, f.node, err)
		os.Exit(1)
	}
}

// database is where the run happens.
type database struct {
	driver, dsn string
	d           dialect.Dialect
}

func (db database) postgres() bool { return db.d == dialect.Postgres }

// pick returns the database of dsn; an empty dsn means an SQLite file in dir.
func pick(dsn, dir string) (database, error) {
	switch {
	case dsn == "":
		return database{"sqlite", "file:" + filepath.Join(dir, "distributed.db") +
			"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)", dialect.SQLite}, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return database{"pgx", dsn, dialect.Postgres}, nil
	case strings.HasPrefix(dsn, "file:"):
		return database{"sqlite", dsn, dialect.SQLite}, nil
	case strings.Contains(dsn, "@tcp("):
		return database{"mysql", dsn, dialect.MySQL}, nil
	}
	return database{}, errors.New("-dsn: want postgres://..., file:... (SQLite) or user@tcp(host:port)/db (MySQL)")
}

// poll is the workers' poll interval and heartbeat: fast, or the
// reference's one second.
func (f flags) poll() (poll, heartbeat time.Duration) {
	if f.reference {
		return time.Second, time.Second
	}
	return 10 * time.Millisecond, 200 * time.Millisecond
}

// orchestrate seeds the table, creates the run, starts the worker
// processes, starts them together, collects and merges their results.
func orchestrate(ctx context.Context, f flags) (*loadtest.Result, error) {
	if f.workers <= 0 || f.conns <= 0 {
		return nil, fmt.Errorf("-workers (%d) and -conns (%d) must be positive", f.workers, f.conns)
	}
	dir, err := os.MkdirTemp("", "startline-distributed-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	dbi, err := pick(f.dsn, dir)
	if err != nil {
		return nil, err
	}
	if f.run == "" {
		f.run = "dist-" + time.Now().UTC().Format("20060102T150405.000000")
	}
	db, err := sql.Open(dbi.driver, dbi.dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := seed(ctx, db, dbi.d, f.rows); err != nil {
		return nil, fmt.Errorf("seeding: %w", err)
	}

	_, heartbeat := f.poll()
	var notifier *pgnotify.Notifier
	if dbi.postgres() && !f.reference {
		if notifier, err = pgnotify.New(dbi.dsn); err != nil {
			return nil, err
		}
		defer notifier.Close()
	}
	oopts := sqlcoord.OrchestratorOptions{
		Tables: sqlcoord.Tables{DB: db, Dialect: dbi.d, Prefix: f.prefix}, RunID: f.run, Workers: f.workers,
		Heartbeat: heartbeat, MissedBeats: 10, OnLost: sqlcoord.LostAbort, Poll: 10 * time.Millisecond,
	}
	if notifier != nil {
		oopts.Notifier = notifier
	}
	o, err := sqlcoord.NewOrchestrator(ctx, oopts)
	if err != nil {
		return nil, err
	}

	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	children := make([]*exec.Cmd, f.workers)
	for i := range children {
		args := []string{"-role", "worker", "-dsn", dbi.dsn, "-run", f.run, "-prefix", f.prefix,
			"-node", fmt.Sprintf("w%02d", i), "-conns", fmt.Sprint(f.conns), "-rows", fmt.Sprint(f.rows),
			"-warmup", f.warmup.String(), "-duration", f.duration.String()}
		if f.reference {
			args = append(args, "-reference")
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting worker %d: %w", i, err)
		}
		children[i] = cmd
	}
	waitChildren := func() error {
		var errs []error
		for i, c := range children {
			if err := c.Wait(); err != nil {
				errs = append(errs, fmt.Errorf("worker %d: %w", i, err))
			}
		}
		return errors.Join(errs...)
	}

	lead := f.lead
	if lead == 0 {
		switch {
		case f.reference:
			lead = 10 * time.Millisecond // the reference starts "now"; its workers learn at their next poll
		default:
			// Enough for every worker process to wake and read the row on
			// a busy machine; the gap that counts is from T on.
			lead = 100 * time.Millisecond
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := o.StartWhenReady(rctx, coordinate.Readiness{Workers: f.workers}, lead); err != nil {
		for _, c := range children {
			_ = c.Process.Kill()
		}
		return nil, errors.Join(err, waitChildren())
	}
	results, cerr := o.Collect(rctx)
	werr := waitChildren()
	if len(results) == 0 {
		return nil, errors.Join(cerr, werr, errors.New("no results"))
	}
	merged, err := loadtest.MergeWith(o.Timeline(), results...)
	if err != nil {
		return nil, err
	}
	if err := report(os.Stdout, f, dbi, merged); err != nil {
		return nil, err
	}
	if f.jsonPath != "" {
		b, err := json.MarshalIndent(merged, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(f.jsonPath, append(b, '\n'), 0o644); err != nil {
			return nil, err
		}
	}
	return merged, errors.Join(cerr, werr)
}

// compare runs the fast order and then the reference order, and prints
// their starts side by side.
func compare(ctx context.Context, w io.Writer, f flags) error {
	f.quiet = true
	fast, err := orchestrate(ctx, f)
	if err != nil {
		return fmt.Errorf("fast order: %w", err)
	}
	ref := f
	ref.reference, ref.run = true, ""
	if f.jsonPath != "" {
		ext := filepath.Ext(f.jsonPath)
		ref.jsonPath = strings.TrimSuffix(f.jsonPath, ext) + ".reference" + ext
	}
	fmt.Fprintln(w)
	reference, err := orchestrate(ctx, ref)
	if err != nil {
		return fmt.Errorf("reference order: %w", err)
	}
	fd := timing.FormatDuration
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "order\tT -> first query: min\tmedian\tmax\tstart skew\tlongest span before the first query")
	for _, r := range []struct {
		name string
		m    *loadtest.Result
	}{{"fast", fast}, {"reference", reference}} {
		s := r.m.Start
		if s == nil {
			fmt.Fprintf(tw, "%s\t(no start report)\n", r.name)
			continue
		}
		longest := "-"
		if s.Longest != nil {
			longest = fmt.Sprintf("%s %s", s.Longest.Phase, fd(s.Longest.Duration()))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.name, fd(s.SignalToFirstQuery.Min), fd(s.SignalToFirstQuery.Median),
			fd(s.SignalToFirstQuery.Max), fd(s.Skew), longest)
	}
	return tw.Flush()
}

// report prints the merged waterfall, the start report and the statistics.
func report(w io.Writer, f flags, dbi database, m *loadtest.Result) error {
	order := "fast order"
	if f.reference {
		order = "reference order (1s polling; RUNNING and test start after the signal)"
	}
	fmt.Fprintf(w, "run %s: %d worker processes x %d connections on %s, %s\n\n", m.RunID, len(m.Workers), f.conns, dbi.d, order)
	if !f.quiet {
		if err := timing.WriteWaterfall(w, m.Timeline); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	fd := timing.FormatDuration
	if s := m.Start; s != nil {
		if s.Published != nil {
			fmt.Fprintf(w, "start published at %s, T at %s (lead %s)\n", fd(*s.Published), fd(s.At), fd(s.At-*s.Published))
		}
		fmt.Fprintf(w, "T -> first query over %d workers: min %s  median %s  max %s;  start skew %s\n",
			s.Workers, fd(s.SignalToFirstQuery.Min), fd(s.SignalToFirstQuery.Median), fd(s.SignalToFirstQuery.Max), fd(s.Skew))
		if s.Longest != nil {
			fmt.Fprintf(w, "longest span before the first query: %s on %s (%s)\n", s.Longest.Phase, s.Longest.Node, fd(s.Longest.Duration()))
		}
		for _, wt := range m.Workers {
			line := fmt.Sprintf("  %s  clock offset %s ± %s", wt.Node, fd(wt.ClockOffset), fd(wt.ClockError))
			if wt.Saw != nil {
				line += fmt.Sprintf("  saw T at %s (T%+.3fms)", fd(*wt.Saw), float64(*wt.Saw-s.At)/1e6)
			}
			if wt.FirstQuery != nil {
				line += fmt.Sprintf("  first query at T+%s", fd(*wt.FirstQuery-s.At))
			}
			fmt.Fprintln(w, line)
		}
	}
	ms := m.Phases.Measure
	fmt.Fprintf(w, "\nmeasure: %d ops, %d errors, %.0f ops/s, p50 %s, p99 %s, max %s\n",
		ms.Ops, ms.Errors, ms.Throughput, fd(ms.Latency.P50), fd(ms.Latency.P99), fd(ms.Latency.Max))
	if m.Error != "" {
		fmt.Fprintf(w, "errors: %s\n", m.Error)
	}
	return nil
}

// worker is one worker process: a loadtest Runner whose coordinator is the
// SQL tables, and whose result goes back through them.
func worker(ctx context.Context, f flags) error {
	dbi, err := pick(f.dsn, "")
	if err != nil {
		return err
	}
	db, err := sql.Open(dbi.driver, dbi.dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(f.conns + 4) // the workload's, plus the coordinator's
	db.SetMaxIdleConns(f.conns + 4)
	p := sqlpool.New(db, sqlpool.Options{})
	defer p.Close()

	poll, heartbeat := f.poll()
	opts := sqlcoord.Options{
		Tables: sqlcoord.Tables{DB: db, Dialect: dbi.d, Prefix: f.prefix}, RunID: f.run,
		Heartbeat: heartbeat, Poll: poll,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if dbi.postgres() && !f.reference {
		n, err := pgnotify.New(dbi.dsn)
		if err != nil {
			return err
		}
		defer n.Close()
		opts.Notifier = n
	}
	coord, err := sqlcoord.New(opts)
	if err != nil {
		return err
	}
	table, err := dbi.d.Ident(itemsTable)
	if err != nil {
		return err
	}
	r, err := loadtest.New(loadtest.Config{
		RunID: f.run, Node: f.node, Pool: p, Coordinator: coord,
		Workers: f.conns, Warmup: f.warmup, Duration: f.duration,
		Sinks:             []loadtest.Sink{coord.Sink()},
		WritesAfterSignal: f.reference,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{
			loadtest.QueryOp("point_select", 1, "SELECT id, value FROM "+table+" WHERE id = "+dbi.d.Placeholder(1),
				func(w *loadtest.Worker, buf []any) []any { return append(buf, 1+w.Rand().IntN(f.rows)) }),
		}},
	})
	if err != nil {
		return err
	}
	_, err = r.Run(ctx)
	return err
}

// itemsTable is the table the workload reads.
const itemsTable = "startline_demo_items"

// seed creates and fills the items table unless it already holds rows.
func seed(ctx context.Context, db *sql.DB, d dialect.Dialect, rows int) error {
	table, err := d.Ident(itemsTable)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+table+" (id BIGINT PRIMARY KEY, value BIGINT NOT NULL)"); err != nil {
		return err
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		return err
	}
	if n >= rows {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
		return err
	}
	const batch = 500
	for start := 1; start <= rows; start += batch {
		var b strings.Builder
		var args []any
		b.WriteString("INSERT INTO " + table + " (id, value) VALUES ")
		for i := start; i < start+batch && i <= rows; i++ {
			if i > start {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "(%s, %s)", d.Placeholder(len(args)+1), d.Placeholder(len(args)+2))
			args = append(args, i, i*7%1000)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}
