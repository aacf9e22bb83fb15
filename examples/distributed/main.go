// Command distributed starts one orchestrator and N node processes that
// begin a load test together, coordinated through a coordinator backend
// (-coord): the SQL tables of the database under test (sql), the same
// with PostgreSQL's LISTEN/NOTIFY as the fast path (pgnotify, the default
// on PostgreSQL), NATS JetStream (nats: the database under test sees no
// coordination statement), or memory, with the nodes as goroutines of this
// one process (local). Each node's result goes to a results store on the
// same database (package sqlsink), or with -coord nats over NATS
// (natscoord.Results), from which the orchestrator collects and merges
// them. It prints the merged waterfall of every process and the
// start report: when the start instant T was published, when each node
// saw it, and how far each node's first query fell from T.
//
//	go run ./examples/distributed -workers 8 -json result.json
//	go run ./examples/distributed -workers 8 -dsn 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//	go run ./examples/distributed -workers 8 -dsn ... -reference
//	go run ./examples/distributed -workers 8 -coord local -on-lost continue
//	go run ./examples/distributed -workers 8 -coord nats -dsn 'postgres://...'
//	go run ./examples/distributed -workers 8 -coord nats -nats nats://127.0.0.1:4222
//
// -coord nats without -nats starts a NATS server with JetStream in the
// orchestrator's process (natsembed, its store in a temporary folder) and
// hands its URL to the node processes (in their environment, not their
// arguments); -nats URL uses an existing server or cluster (credentials in
// the URL never appear in the output), from which the orchestrator
// deletes the run's bucket, stream and results once it has merged them.
//
// Without -dsn the database is an SQLite file in a temporary folder, so it
// runs on a fresh machine. -reference runs the reference harness's order
// instead: one-second polling and heartbeats, and the RUNNING report and the
// test-start write after the start signal, on the path to the first query.
// -on-lost says what happens to the run when a node stops beating: abort
// it (before T the start is withdrawn and no node starts), or go on with
// the others. After a failed run the orchestrator prints one line per
// node, with its reason.
//
// The fleet, live (live.go): every node streams each interval as it closes
// to the results store's stream table, and the orchestrator merges them
// as they arrive, printing one "fleet" line per interval. -threshold
// checks the merged measured window as it grows; with -abort-on-fail (after
// -abort-grace) a failed threshold aborts every node, the result's stopped
// names it, and the command exits 1, as it does when a threshold fails at
// the end. A node killed mid-run keeps, in the merged result, every
// interval it streamed (lost: true in workers); under -on-lost continue
// the run still succeeds. -live ADDR serves a page with the nodes, the
// startup waterfall, throughput and latency as they come, and the result.
//
//	go run ./examples/distributed -workers 4 -duration 30s -threshold 'p99<5ms' -abort-on-fail -live 127.0.0.1:8080
//
// -rate R makes the run open-loop at R operations per second for the
// fleet, split evenly over the nodes (each runs arrival-rate at R/-workers;
// the merged result's offered_per_s and throughput_per_s add up the
// nodes'). -query SQL replaces the point select by a query of your own
// (one without parameters, such as 'SELECT pg_sleep(0.01)').
//
// The capacity search (capacity.go): -capacity looks for the highest fleet
// rate at which every -slo holds (and the step achieves -min-achieved of
// what it offered, errs less than -max-error-rate and is not overloaded),
// stepping up from -start by -factor, then bisecting, for at most -steps
// steps and -budget (the flags of examples/capacity). Each step is one
// distributed run of its own, run id -run and ".step-N": every node
// joins it on the coordinator backend, all start together at its T, and
// the step is judged on the fleet's merged result. The node processes
// live across the steps, their pools warm: the orchestrator writes each
// step to their standard input (a line "step RUN-ID RATE", with the node's
// share of the rate) and closes it when the search is over. The output
// has one line per step (its verdict, and how many nodes which
// coordinator started, with the start skew), then the table of the steps
// by rate and the capacity found. -json FILE writes the last step's merged
// result (as a single run's -json) with two fields added: "capacity" (the
// search, as examples/capacity writes it: steps with offered_per_s,
// throughput_per_s, latency_ns and pass; max_rate) and "step_starts" (per
// step: run_id, the nodes merged, the coordinator, at_ns and skew_ns).
// -html FILE draws the search (latency and achieved throughput against the
// offered rate, the knee marked), as examples/capacity does.
//
//	go run ./examples/distributed -workers 4 -capacity -slo 'p99<20ms' -json capacity.json
//	go run ./examples/distributed -workers 4 -conns 2 -capacity -coord nats -dsn 'postgres://...' -query 'SELECT pg_sleep(0.01)' -slo 'p99<50ms'
//
// The same binary is the node: the orchestrator re-executes itself with
// -role worker. A coordinator backend is one case in backendFor.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/natscoord"
	"github.com/startline/startline/coordinate/natscoord/natsembed"
	"github.com/startline/startline/coordinate/pgnotify"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/internal/cli"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/sqlpool"
	"github.com/startline/startline/timing"
)

// flags are the command's options; nodes get theirs from the orchestrator.
type flags struct {
	role      string
	workers   int
	conns     int
	dsn       string
	coord     string
	nats      string
	onLost    string
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
	// The fleet, live (see live.go).
	thresholds  cli.List
	abortOnFail bool
	abortGrace  time.Duration
	live        string
	// The arrival rate and the capacity search (see capacity.go).
	rate       float64
	query      string
	serveSteps bool
	capacity   capacityFlags
}

func main() {
	var f flags
	flag.StringVar(&f.role, "role", "orchestrator", "orchestrator, or worker (set by the orchestrator for its node processes)")
	flag.IntVar(&f.workers, "workers", 8, "node processes (goroutines with -coord local)")
	flag.IntVar(&f.conns, "conns", 2, "concurrent workers (connections) per node")
	flag.StringVar(&f.dsn, "dsn", "", "database: postgres://... or a go-sql-driver/mysql DSN; empty: an SQLite file in a temporary folder")
	flag.StringVar(&f.coord, "coord", "", "coordinator backend: sql, pgnotify, nats or local (default: pgnotify on PostgreSQL, sql otherwise; sql with -reference)")
	flag.StringVar(&f.nats, "nats", "", "with -coord nats: the NATS server (nats://host:4222, or several, comma-separated); empty: one started in this process")
	flag.StringVar(&f.onLost, "on-lost", "abort", "what a lost node does to the run: abort (before T: no node starts) or continue")
	flag.BoolVar(&f.reference, "reference", false, "the reference harness's order: 1s polling, RUNNING and test start after the signal")
	flag.StringVar(&f.jsonPath, "json", "", "write the merged result as JSON to this file")
	flag.StringVar(&f.run, "run", "", "run id (default: dist- and a timestamp)")
	flag.StringVar(&f.prefix, "prefix", "startline_dist_", "table prefix of the coordination and results tables")
	flag.StringVar(&f.node, "node", "", "node name (worker role)")
	flag.IntVar(&f.rows, "rows", 10_000, "rows in the table the workload reads")
	flag.DurationVar(&f.warmup, "warmup", 200*time.Millisecond, "warmup before the measured window")
	flag.DurationVar(&f.duration, "duration", time.Second, "measured window")
	flag.DurationVar(&f.lead, "lead", 0, "lead from publishing the start to T (default: 100ms, 10ms with -reference)")
	flag.BoolVar(&f.quiet, "quiet", false, "print only the start report, not the waterfall")
	flag.BoolVar(&f.compare, "compare", false, "run the fast order, then the reference order, and compare their starts side by side (with -json, the reference's result goes to FILE with .reference before its extension)")
	flag.Var(&f.thresholds, "threshold", "a fleet threshold on the merged measured window, such as 'p99<50ms' or 'error_rate<0.01' (repeatable, or comma-separated); a failed one exits 1")
	flag.BoolVar(&f.abortOnFail, "abort-on-fail", false, "abort every node as soon as a -threshold fails on the merged window so far")
	flag.DurationVar(&f.abortGrace, "abort-grace", 0, "with -abort-on-fail: measure this long before a threshold may abort the run")
	flag.StringVar(&f.live, "live", "", "serve the live page of the run on this address (host:port): nodes, waterfall, throughput and latency as they come")
	flag.Float64Var(&f.rate, "rate", 0, "the fleet's arrival rate, in operations per second, split evenly over the nodes (0: each worker runs its operations back to back)")
	flag.StringVar(&f.query, "query", "", "the query each operation runs, without parameters (default: a point select of a row of the seeded table)")
	flag.BoolVar(&f.serveSteps, "serve-steps", false, "worker role: run the steps the orchestrator writes to standard input, one a line (set by the orchestrator with -capacity)")
	f.capacity.register(flag.CommandLine)
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
		_, err = orchestrate(ctx, os.Stdout, f)
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
		return database{"sqlite3", "file:" + filepath.Join(dir, "distributed.db") +
			"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)", dialect.SQLite}, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return database{"pgx", dsn, dialect.Postgres}, nil
	case strings.HasPrefix(dsn, "file:"):
		return database{"sqlite3", dsn, dialect.SQLite}, nil
	case strings.Contains(dsn, "@tcp("):
		return database{"mysql", dsn, dialect.MySQL}, nil
	}
	return database{}, errors.New("-dsn: want postgres://..., file:... (SQLite) or user@tcp(host:port)/db (MySQL)")
}

// coordName is the -coord in effect: the flag, or the default for dbi.
func (f flags) coordName(dbi database) string {
	switch {
	case f.coord != "":
		return f.coord
	case dbi.postgres() && !f.reference:
		return "pgnotify"
	}
	return "sql"
}

// backend is a coordinator backend as one process uses it. (It holds the
// Backend rather than embedding it: an embedding would hide the Backend's
// optional capabilities, coordinate.Clock and coordinate.Watcher.)
type backend struct {
	b     coordinate.Backend
	close func()
	// inProcess says the backend does not cross processes: the nodes run
	// as goroutines of the orchestrator's process, sharing it.
	inProcess bool
	// results, if set, carries the nodes' results instead of the results
	// tables on the database (sqlsink).
	results resultStore
}

// resultStore is where nodes store their results and stream their
// intervals, and the orchestrator reads them.
type resultStore interface {
	loadtest.ResultStore
	loadtest.ResultSource
	loadtest.StreamStore
	loadtest.StreamSource
}

// natscoord.Results has all four method sets without importing loadtest
// (nothing under coordinate does): they are asserted here.
var (
	_ loadtest.ResultStore  = (*natscoord.Results)(nil)
	_ loadtest.ResultSource = (*natscoord.Results)(nil)
	_ loadtest.StreamStore  = (*natscoord.Results)(nil)
	_ loadtest.StreamSource = (*natscoord.Results)(nil)
)

// backendFor returns the coordinator backend -coord names, over db. The
// orchestrator and every node process call it with the same flags. Adding
// a backend is one case here.
func backendFor(f flags, dbi database, db *sql.DB, log *slog.Logger) (backend, error) {
	tables := sqlcoord.Tables{DB: db, Dialect: dbi.d, Prefix: f.prefix}
	switch name := f.coordName(dbi); name {
	case "sql":
		b, err := sqlcoord.New(sqlcoord.Options{Tables: tables, RunID: f.run, Logger: log})
		return backend{b: b, close: func() {}}, err
	case "pgnotify":
		if !dbi.postgres() {
			return backend{}, errors.New("-coord pgnotify: needs a PostgreSQL -dsn")
		}
		n, err := pgnotify.New(dbi.dsn)
		if err != nil {
			return backend{}, err
		}
		b, err := sqlcoord.New(sqlcoord.Options{Tables: tables, RunID: f.run, Notifier: n, Logger: log})
		if err != nil {
			n.Close()
			return backend{}, err
		}
		return backend{b: b, close: func() { n.Close() }}, nil
	case "local":
		return backend{b: coordinate.NewMemory(), close: func() {}, inProcess: true}, nil
	case "nats":
		// The orchestrator's clock is the run's reference: it answers the
		// nodes' clock requests.
		b, err := natscoord.New(natscoord.Options{URL: f.nats, RunID: f.run, ServeClock: f.role != "worker", Logger: log})
		if err != nil {
			return backend{}, err
		}
		res, err := natscoord.NewResults(b.Conn())
		if err != nil {
			b.Close()
			return backend{}, err
		}
		closeB := func() { b.Close() }
		if f.role != "worker" {
			// The orchestrator leaves a shared server as it found it: the
			// run's bucket, stream and results go once they are merged.
			closeB = func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := b.Drop(ctx); err != nil {
					log.Warn("dropping the run's NATS storage", "err", err)
				}
				b.Close()
			}
		}
		return backend{b: b, close: closeB, results: res}, nil
	default:
		return backend{}, fmt.Errorf("-coord %q: want sql, pgnotify, nats or local", name)
	}
}

// checkNATSURL checks that every comma-separated part of -nats is a
// nats:// (or tls://, ws://, wss://) URL with a host, without quoting it:
// an unparsable URL may hold a password that did not parse.
func checkNATSURL(s string) error {
	for i, p := range strings.Split(s, ",") {
		u, err := url.Parse(strings.TrimSpace(p))
		switch {
		case err != nil:
			return fmt.Errorf("-nats: URL %d of %d does not parse (a password needs its special characters %%-escaped)", i+1, strings.Count(s, ",")+1)
		case u.Host == "" || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, u.Scheme):
			return fmt.Errorf("-nats: URL %d of %d: want nats://host:port (or tls://, ws://, wss://)", i+1, strings.Count(s, ",")+1)
		}
	}
	return nil
}

// embedNATS starts a NATS server in this process, its store in dir, when
// -coord nats has no -nats URL, and sets f.nats to it; the returned
// function stops it.
func embedNATS(f *flags, dbi database, dir string) (func(), error) {
	switch {
	case f.coordName(dbi) != "nats" && f.nats != "":
		return nil, errors.New("-nats: only with -coord nats")
	case f.nats != "":
		return func() {}, checkNATSURL(f.nats)
	case f.coordName(dbi) != "nats":
		return func() {}, nil
	}
	srv, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		return nil, fmt.Errorf("-coord nats: starting the embedded NATS server: %w", err)
	}
	f.nats = srv.ClientURL()
	return srv.Stop, nil
}

// kit is the coordination's timing: fast, or the reference's one second.
// The orchestrator polls the nodes every 10ms either way.
func (f flags) kit(orchestrator bool, log *slog.Logger) (coordinate.Options, error) {
	policy, err := coordinate.ParseLostPolicy(f.onLost)
	if err != nil {
		return coordinate.Options{}, fmt.Errorf("-on-lost: %w", err)
	}
	// A node is lost after 5s of silence: a busy machine can stall a
	// process for seconds, and a false loss aborts the run.
	o := coordinate.Options{Heartbeat: 200 * time.Millisecond, Poll: 10 * time.Millisecond, MissedBeats: 25, OnLost: policy, Logger: log}
	if f.reference {
		o.Heartbeat, o.Poll = time.Second, time.Second
	}
	if orchestrator {
		o.Poll = 10 * time.Millisecond
	}
	return o, nil
}

// orchestrate seeds the table, creates the run, starts the nodes, starts
// them together, waits for them, collects and merges their results. With
// -capacity it runs a capacity search instead, each step a run of its own
// (see searchFleet).
func orchestrate(ctx context.Context, w io.Writer, f flags) (*loadtest.Result, error) {
	if f.workers <= 0 || f.conns <= 0 {
		return nil, fmt.Errorf("-workers (%d) and -conns (%d) must be positive", f.workers, f.conns)
	}
	if _, err := f.kit(true, nil); err != nil {
		return nil, err
	}
	if err := checkLive(f); err != nil {
		return nil, err
	}
	if err := f.checkRate(); err != nil {
		return nil, err
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
	stopNATS, err := embedNATS(&f, dbi, dir)
	if err != nil {
		return nil, err
	}
	defer stopNATS()
	if err := seed(ctx, db, dbi.d, f.rows); err != nil {
		return nil, fmt.Errorf("seeding: %w", err)
	}
	e := env{dbi: dbi, db: db, log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	nodes := make([]string, f.workers)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("w%02d", i)
	}
	if f.capacity.on {
		return searchFleet(ctx, w, f, e, nodes)
	}
	return runFleet(ctx, w, f, e, nodes, nil)
}

// env is what every run of one orchestrator shares: the database and the
// log.
type env struct {
	dbi database
	db  *sql.DB
	log *slog.Logger
}

// runFleet runs f.run across nodes: it creates the run on its coordinator
// backend, starts the nodes (fl nil: node processes, or goroutines, that
// run it and end), or hands the run to the nodes of fl, which live across
// the steps of a capacity search, starts them together, waits for them,
// and collects and merges their results. A single run (fl nil) prints its
// report, writes -json and fails on a failed -threshold; a step leaves
// that to the search.
func runFleet(ctx context.Context, w io.Writer, f flags, e env, nodes []string, fl *fleet) (*loadtest.Result, error) {
	dbi, db, log := e.dbi, e.db, e.log
	single := fl == nil
	b, err := backendFor(f, dbi, db, log)
	if err != nil {
		return nil, err
	}
	defer b.close()
	var results interface {
		loadtest.ResultSource
		loadtest.StreamSource
	}
	if b.results != nil {
		results = b.results
	} else {
		sink, err := sqlsink.New(db, dbi.d, sqlsink.Options{Prefix: f.prefix})
		if err != nil {
			return nil, err
		}
		// Before the nodes write to them: tables created by many processes
		// at once race on PostgreSQL's catalog.
		if err := sink.CreateSchema(ctx); err != nil {
			return nil, err
		}
		results = sink
	}
	opts, _ := f.kit(true, log)
	run, err := coordinate.NewRun(ctx, b.b, opts)
	if err != nil {
		return nil, err
	}

	page, err := serveLive(w, f.live, f, run, nodes)
	if err != nil {
		return nil, err
	}
	defer page.done(run, nodes, nil) // on the way out of an error
	nctx, cancelNodes := context.WithCancel(ctx)
	defer cancelNodes()
	if single {
		if fl, err = startNodes(nctx, f, dbi, b, nodes); err != nil {
			return nil, err
		}
	} else if err := fl.step(nctx, nodeStep{run: f.run, rate: f.nodeRate(), b: b}); err != nil {
		return nil, err
	}
	// wait waits for the node processes of a single run to end; those of a
	// search live on.
	wait := func() {
		if single {
			fl.wait()
		}
	}

	lead := f.lead
	if lead == 0 {
		switch {
		case f.reference:
			lead = 10 * time.Millisecond // the reference starts "now"; its nodes learn at their next poll
		default:
			// Enough for every node process to wake and read the row on
			// a busy machine; the gap that counts is from T on.
			lead = 100 * time.Millisecond
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	sig, err := run.StartWhenReady(rctx, coordinate.Readiness{Nodes: f.workers}, lead)
	if err != nil {
		cancelNodes()
		wait()
		st, _ := run.Nodes(context.Background())
		printNodes(w, nodes, st, run.Timeline().Find(timing.CoordLost), fl)
		return nil, fmt.Errorf("the run did not start: %w", err)
	}
	src := results
	lv, err := followFleet(ctx, w, f, run, sig, nodes, src, page)
	if err != nil {
		return nil, err
	}
	// Watch the nodes until they leave: a node lost before T withdraws the
	// start (under -on-lost abort), one lost after it aborts the run.
	st, doneErr := run.AwaitDone(rctx)
	wait()
	lerr := lv.stop()
	var collect, lostIDs []string
	for _, s := range st {
		if s.Status != coordinate.StatusLost {
			collect = append(collect, s.ID)
		} else {
			lostIDs = append(lostIDs, s.ID)
		}
	}
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	got, cerr := loadtest.Collect(cctx, results, f.run, collect)
	merged, err := lv.finish(cctx, run, got, lostIDs)
	if err != nil && len(got) > 0 {
		return nil, err
	}
	kept := rebuilt(merged, lostIDs)
	page.done(run, nodes, merged)
	if merged != nil && single {
		if err := report(w, f, dbi, run.Name(), merged); err != nil {
			return nil, err
		}
		if f.jsonPath != "" {
			data, err := json.MarshalIndent(merged, "", "  ")
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(f.jsonPath, append(data, '\n'), 0o644); err != nil {
				return nil, err
			}
		}
	}
	if lerr != nil {
		fmt.Fprintf(w, "fleet: reading the stream: %v\n", lerr)
	}
	if failed(st, len(nodes), kept, f.onLost) || doneErr != nil || cerr != nil || fl.failed(kept) {
		printNodes(w, nodes, st, run.Timeline().Find(timing.CoordLost), fl)
		if stop, ok := lv.merge.Stopped(); ok {
			return merged, fmt.Errorf("run aborted: threshold %s failed (measured %s)", stop.Name, stop.Measured())
		}
		return merged, runError(doneErr, cerr, run.Lost())
	}
	if !single {
		return merged, nil
	}
	fl.printLogs(w)
	if merged != nil {
		if bad := merged.FailedThresholds(); len(bad) > 0 {
			return merged, fmt.Errorf("%d of %d thresholds failed", len(bad), len(merged.Thresholds))
		}
	}
	return merged, nil
}

// failed reports whether the run went wrong for any of want nodes. Under
// -on-lost continue, a node lost after it streamed (kept) did not: the
// merged result holds what it measured.
func failed(st []coordinate.NodeStatus, want int, kept map[string]bool, onLost string) bool {
	if len(st) < want {
		return true
	}
	for _, s := range st {
		if s.Status == coordinate.StatusLost && kept[s.ID] && onLost == "continue" {
			continue
		}
		if s.Status != coordinate.StatusDone {
			return true
		}
	}
	return false
}

// runError is the one-line reason of a failed run; the nodes' own lines
// say the rest.
func runError(doneErr, collectErr error, lost []string) error {
	switch {
	case len(lost) > 0 && errors.Is(doneErr, coordinate.ErrLost):
		return fmt.Errorf("run aborted: nodes lost: [%s]", strings.Join(lost, " "))
	case len(lost) > 0:
		return fmt.Errorf("nodes lost: [%s]; the others went on", strings.Join(lost, " "))
	case doneErr != nil:
		return doneErr
	case collectErr != nil:
		return collectErr
	}
	return errors.New("nodes failed")
}

// printNodes prints one line per node: its final state and its reason.
func printNodes(w io.Writer, nodes []string, st []coordinate.NodeStatus, lostMarks []timing.Mark, fleet *fleet) {
	byID := map[string]coordinate.NodeStatus{}
	for _, s := range st {
		byID[s.ID] = s
	}
	lostWhy := map[string]string{}
	for _, m := range lostMarks {
		lostWhy[m.Node] = m.Detail
	}
	fmt.Fprintln(w)
	for _, id := range nodes {
		s, ok := byID[id]
		var why string
		switch {
		case !ok:
			why = "never joined: " + fleet.lastWords(id)
		case s.Status == coordinate.StatusLost:
			why = "lost: declared lost, " + lostWhy[id]
		case s.Err != nil:
			why = strings.ToLower(string(s.Status)) + ": " + s.Err.Error()
		default:
			why = strings.ToLower(string(s.Status))
		}
		if err := fleet.err(id); err != nil && s.Err == nil {
			// It left the run as it should, and failed after (its result
			// not stored, say): the process says why.
			why += "; then: " + fleet.lastWords(id)
		}
		fmt.Fprintf(w, "  %s: %s\n", id, why)
	}
}

// fleet is the running nodes: processes, or goroutines of this process.
type fleet struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	logs map[string]*bytes.Buffer // each node's standard error (or its error)
	errs map[string]error
	// The nodes of a capacity search read their steps from these: a
	// process's standard input, or a goroutine's channel (see step).
	stdin map[string]io.WriteCloser
	steps map[string]chan nodeStep
}

// startNodes starts a node for each of nodes: a process running this
// command with -role worker, or, for a backend that does not cross
// processes, a goroutine over b. With f.serveSteps the nodes run the
// steps they are handed (fleet.step) rather than f.run.
func startNodes(ctx context.Context, f flags, dbi database, b backend, nodes []string) (*fleet, error) {
	fl := &fleet{logs: map[string]*bytes.Buffer{}, errs: map[string]error{},
		stdin: map[string]io.WriteCloser{}, steps: map[string]chan nodeStep{}}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	for _, id := range nodes {
		logs := new(bytes.Buffer)
		fl.logs[id] = logs
		nf := f
		nf.role, nf.node, nf.dsn, nf.rate = "worker", id, dbi.dsn, f.nodeRate()
		if b.inProcess {
			steps := make(chan nodeStep, 1)
			if f.serveSteps {
				fl.steps[id] = steps
			}
			fl.wg.Go(func() {
				log := slog.New(slog.NewTextHandler(&lockedWriter{w: logs, mu: &fl.mu}, &slog.HandlerOptions{Level: slog.LevelWarn}))
				var err error
				if f.serveSteps {
					err = serveSteps(ctx, nf, dbi, steps, nil, log)
				} else {
					err = runNode(ctx, nf, dbi, b, log)
				}
				fl.mu.Lock()
				fl.errs[id] = err
				fl.mu.Unlock()
			})
			continue
		}
		args := []string{"-role", "worker", "-coord", f.coordName(dbi), "-on-lost", f.onLost, "-dsn", dbi.dsn, "-run", f.run,
			"-prefix", f.prefix, "-node", id, "-conns", fmt.Sprint(f.conns), "-rows", fmt.Sprint(f.rows),
			"-warmup", f.warmup.String(), "-duration", f.duration.String()}
		if f.reference {
			args = append(args, "-reference")
		}
		if f.query != "" {
			args = append(args, "-query", f.query)
		}
		if f.serveSteps {
			args = append(args, "-serve-steps")
		} else if nf.rate > 0 {
			args = append(args, "-rate", strconv.FormatFloat(nf.rate, 'g', -1, 64))
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		if f.nats != "" {
			// In the environment, not the arguments, which every user of
			// the host can read (ps): the URL may hold credentials.
			cmd.Env = append(os.Environ(), natsURLEnv+"="+f.nats)
		}
		cmd.Stdout = &lockedWriter{w: logs, mu: &fl.mu}
		cmd.Stderr = cmd.Stdout
		if f.serveSteps {
			in, err := cmd.StdinPipe()
			if err != nil {
				return nil, fmt.Errorf("starting node %s: %w", id, err)
			}
			fl.stdin[id] = in
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting node %s: %w", id, err)
		}
		fl.wg.Go(func() {
			err := cmd.Wait()
			fl.mu.Lock()
			fl.errs[id] = err
			fl.mu.Unlock()
		})
	}
	return fl, nil
}

// wait waits for every node to end.
func (fl *fleet) wait() { fl.wg.Wait() }

// failed reports whether a node ended with an error, but for the lost
// nodes whose streams were kept (killed, they ended with one).
func (fl *fleet) failed(kept map[string]bool) bool {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for id, err := range fl.errs {
		if err != nil && !kept[id] {
			return true
		}
	}
	return false
}

// err is node id's error: its process's exit, or its goroutine's.
func (fl *fleet) err(id string) error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.errs[id]
}

// lastWords is the last line a node wrote, or its error.
func (fl *fleet) lastWords(id string) string {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(fl.logs[id].String()), "\n")
	if last := lines[len(lines)-1]; last != "" {
		return last
	}
	if err := fl.errs[id]; err != nil {
		return err.Error()
	}
	return "no output"
}

// printLogs prints what the nodes wrote (warnings), each line with its node.
func (fl *fleet) printLogs(w io.Writer) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for id, b := range fl.logs {
		for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			if l != "" {
				fmt.Fprintf(w, "[%s] %s\n", id, l)
			}
		}
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// compare runs the fast order and then the reference order, and prints
// their starts side by side.
func compare(ctx context.Context, w io.Writer, f flags) error {
	f.quiet = true
	fast, err := orchestrate(ctx, w, f)
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
	reference, err := orchestrate(ctx, w, ref)
	if err != nil {
		return fmt.Errorf("reference order: %w", err)
	}
	fd := timing.FormatDuration
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "order\tcoordinator\tT -> first query: min\tmedian\tmax\tstart skew\tlongest span before the first query")
	for _, r := range []struct {
		name string
		m    *loadtest.Result
	}{{"fast", fast}, {"reference", reference}} {
		s := r.m.Start
		if s == nil {
			fmt.Fprintf(tw, "%s\t\t(no start report)\n", r.name)
			continue
		}
		longest := "-"
		if s.Longest != nil {
			longest = fmt.Sprintf("%s %s", s.Longest.Phase, fd(s.Longest.Duration()))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.name, s.Coordinator, fd(s.SignalToFirstQuery.Min), fd(s.SignalToFirstQuery.Median),
			fd(s.SignalToFirstQuery.Max), fd(s.Skew), longest)
	}
	return tw.Flush()
}

// report prints the merged waterfall, the start report and the statistics.
func report(w io.Writer, f flags, dbi database, coord string, m *loadtest.Result) error {
	order := "fast order"
	if f.reference {
		order = "reference order (1s polling; RUNNING and test start after the signal)"
	}
	fmt.Fprintf(w, "run %s: %d nodes x %d connections on %s, coordinator %s, %s\n\n", m.RunID, len(m.Workers), f.conns, dbi.d, coord, order)
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
	reportFleet(w, m)
	// The nodes' errors (m.Error) follow, one line per node, when the run
	// failed: see printNodes.
	return nil
}

// natsURLEnv passes the NATS URL from the orchestrator to its node
// processes.
const natsURLEnv = "STARTLINE_DISTRIBUTED_NATS"

// worker is one node process: it opens the database and the coordinator
// backend -coord names, and runs a node.
func worker(ctx context.Context, f flags) error {
	if f.nats == "" {
		f.nats = os.Getenv(natsURLEnv)
	}
	dbi, err := pick(f.dsn, "")
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := sql.Open(dbi.driver, dbi.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if f.serveSteps {
		return serveSteps(ctx, f, dbi, readSteps(os.Stdin), func(f flags) (backend, error) { return backendFor(f, dbi, db, log) }, log)
	}
	b, err := backendFor(f, dbi, db, log)
	if err != nil {
		return err
	}
	defer b.close()
	return runNode(ctx, f, dbi, b, log)
}

// runNode runs one node: a loadtest Runner coordinated through b, whose
// result goes to b's results store, or the one on the database.
func runNode(ctx context.Context, f flags, dbi database, b backend, log *slog.Logger) error {
	n, err := openNode(f, dbi)
	if err != nil {
		return err
	}
	defer n.close()
	return n.run(ctx, f, b, log)
}

// node is a node's database connections: the pool its workload runs on
// and the results tables. They live across the steps of a capacity
// search, so that the pool stays warm.
type node struct {
	dbi  database
	db   *sql.DB
	pool *sqlpool.Pool
	sink *sqlsink.Sink // made at the first run that stores its result on the database
}

func openNode(f flags, dbi database) (*node, error) {
	db, err := sql.Open(dbi.driver, dbi.dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(f.conns + 4) // the workload's, plus the coordinator's and the results'
	db.SetMaxIdleConns(f.conns + 4)
	return &node{dbi: dbi, db: db, pool: sqlpool.New(db, sqlpool.Options{})}, nil
}

func (n *node) close() { _ = n.pool.Close() }

// run runs the node's part of run f.run, at f.rate (the node's own share
// of the fleet's) if it is set, coordinated through b.
func (n *node) run(ctx context.Context, f flags, b backend, log *slog.Logger) error {
	dbi := n.dbi
	opts, err := f.kit(false, log)
	if err != nil {
		return err
	}
	coord, err := coordinate.NewClient(b.b, opts)
	if err != nil {
		return err
	}
	var results interface {
		loadtest.Sink
		loadtest.StreamStore
	}
	if b.results != nil {
		results = struct {
			loadtest.Sink
			loadtest.StreamStore
		}{loadtest.ResultSink(b.results), b.results}
	} else {
		if n.sink == nil {
			sink, err := sqlsink.New(n.db, dbi.d, sqlsink.Options{Prefix: f.prefix})
			if err != nil {
				return err
			}
			// The orchestrator created the tables; the Sink's check that
			// they exist (DDL) is made now, not in results.test_start,
			// between the node's ready report and its wait for T.
			if err := sink.CreateSchema(ctx); err != nil {
				return err
			}
			n.sink = sink
		}
		results = n.sink
	}
	op, err := f.operation(dbi)
	if err != nil {
		return err
	}
	cfg := loadtest.Config{
		RunID: f.run, Node: f.node, Pool: n.pool, Coordinator: coord,
		Workers: f.conns, Warmup: f.warmup, Duration: f.duration,
		Sinks:             []loadtest.Sink{results},
		Stream:            results,
		WritesAfterSignal: f.reference,
		Logger:            log,
		Workload:          loadtest.Workload{Operations: []loadtest.Operation{op}},
	}
	if f.rate > 0 {
		cfg.Rate = f.rate
		// An overloaded step queues what it cannot serve rather than drop
		// it, and waits for it: its latencies count from the schedule.
		cfg.MaxInFlight = 100_000
		cfg.Drain = max(loadtest.DefaultDrain, 2*(f.warmup+f.duration))
	}
	r, err := loadtest.New(cfg)
	if err != nil {
		return err
	}
	_, err = r.Run(ctx)
	return err
}

// operation is the workload's one operation: -query, or a point select
// of a random row of the seeded table.
func (f flags) operation(dbi database) (loadtest.Operation, error) {
	if f.query != "" {
		return loadtest.QueryOp("query", 1, f.query, nil), nil
	}
	table, err := dbi.d.Ident(itemsTable)
	if err != nil {
		return loadtest.Operation{}, err
	}
	return loadtest.QueryOp("point_select", 1, "SELECT id, value FROM "+table+" WHERE id = "+dbi.d.Placeholder(1),
		func(w *loadtest.Worker, buf []any) []any { return append(buf, 1+w.Rand().IntN(f.rows)) }), nil
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
