// Command snowflake runs a coordinated warmup-then-measure load test on
// Snowflake: against a real account when a DSN is given (-dsn, or
// SNOWFLAKE_DSN, or SNOWFLAKE_ACCOUNT/USER/PASSWORD...), and otherwise
// against a local Snowflake-protocol server (package
// pool/snowflake/snowflaketest) that adds the latencies it is told to and
// models a warehouse of -warehouse-slots slots.
//
// It warms -sessions sessions in parallel, resumes the warehouse, profiles
// the accounts table, waits for the start signal, warms up and measures,
// then prints the startup waterfall (pool.init with one pool.conn mark per
// login), the statistics, the server's split of every statement's time
// (read from INFORMATION_SCHEMA.QUERY_HISTORY after the run: queued,
// compiling, executing, and the client's part), the per-login latency
// distribution, the session settings, and how many statements each part
// of the harness ran on the server.
//
//	go run ./examples/snowflake -sessions 100 -login-latency 150ms -json result.json
//	go run ./examples/snowflake -reference      # the reference harness's order and latencies
//	go run ./examples/snowflake -workers 32 -warehouse-slots 8   # queueing, in the split
//	go run ./examples/snowflake -result-cache   # the cache's hits, and its meaningless latencies
//	go run ./examples/snowflake -coord sql -reference -json A.json
//	go run ./examples/snowflake -coord nats -json B.json
//	go run ./examples/snowflake -dsn 'user:pw@account/db/schema?warehouse=wh'
//
// -coord says how the start is coordinated. local (the default): an
// orchestrator in this process, with the heartbeats and the TEST_RESULTS
// rows written through the driver as the reference harness wrote them.
// sql: the reference harness's whole setup in Snowflake tables, an
// orchestrator and -nodes nodes coordinating through sqlcoord's tables
// and writing their results through sqlsink, both through gosnowflake;
// the orchestrator collects and merges the results, and the report names
// where the time from the orchestrator's start to the first query went.
// The nodes are goroutines of this process, each with its own pool of
// sessions, its own coordinator and its own results store, so that
// everything they share goes through the server; a node process would add
// only its own start-up (and, against the local server, which lives in
// this process, nothing the server could see). nats: the same fleet
// coordinating through NATS JetStream (package natscoord) and sending its
// results over it, so that the warehouse runs no coordination statement;
// the NATS server is -nats URL, or one started in this process.
//
// -reference reproduces the reference harness (../shared/seed): RUNNING is
// reported and the test start recorded after the start signal, on the path
// to the first query, with inserts at 100-200ms and queries at 1-100ms;
// with -coord sql, the nodes and the orchestrator poll the tables once a
// second and beat once a second, as the harness's _wait_for_start loop
// did (the seed does not say how often its orchestrator polled: once a
// second is an assumption).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/snowflakedb/gosnowflake"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/internal/cli"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
	"github.com/startline/startline/profile"
	"github.com/startline/startline/timing"
)

// Table names, as the Snowflake dialect quotes them.
const (
	accountsTable   = "STARTLINE_ACCOUNTS"
	heartbeatsTable = "STARTLINE_WORKER_HEARTBEATS"
	resultsTable    = "STARTLINE_TEST_RESULTS"
)

func main() { cli.Main("snowflake", run) }

type flags struct {
	sessions, workers, rows int
	warmup, duration        time.Duration
	login, query, insert    string
	resume                  string
	reference               bool
	dsn, jsonPath           string
	warehouse               string
	slots                   int
	resultCache             bool
	coord                   string
	nats                    string
	nodes                   int
}

// run runs the example with the command-line arguments args, writing the
// report to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f flags
	fs := flag.NewFlagSet("snowflake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&f.sessions, "sessions", 100, "sessions to warm before the run (-coord sql or nats: shared among the nodes)")
	fs.IntVar(&f.workers, "workers", 0, "concurrent workers (default: sessions-1, leaving one session for heartbeats and results; -coord sql: shared among the nodes)")
	fs.IntVar(&f.rows, "rows", 10_000, "rows of the accounts table (local server)")
	fs.DurationVar(&f.warmup, "warmup", time.Second, "warmup before the measured window")
	fs.DurationVar(&f.duration, "duration", 3*time.Second, "length of the measured window")
	fs.StringVar(&f.login, "login-latency", "150ms", "local server: latency per login, D or MIN-MAX")
	fs.StringVar(&f.query, "query-latency", "5ms", "local server: latency per query, D or MIN-MAX (-reference: 1ms-100ms)")
	fs.StringVar(&f.insert, "insert-latency", "0", "local server: latency per insert, D or MIN-MAX (-reference: 100ms-200ms)")
	fs.StringVar(&f.resume, "resume-latency", "0", "local server: latency of resuming the warehouse, D or MIN-MAX")
	fs.BoolVar(&f.reference, "reference", false, "reproduce the reference harness's order and latencies")
	fs.StringVar(&f.dsn, "dsn", "", "gosnowflake DSN of a real account (default: SNOWFLAKE_DSN or SNOWFLAKE_* variables, else the local server)")
	fs.StringVar(&f.warehouse, "warehouse", "", "warehouse to use and resume (local default: STARTLINE_WH)")
	fs.StringVar(&f.jsonPath, "json", "", "also write the result as JSON to this file (with -coord sql or nats: the merged result)")
	fs.IntVar(&f.slots, "warehouse-slots", snowflaketest.DefaultMaxConcurrency, "local server: the warehouse's MAX_CONCURRENCY_LEVEL (statements it runs at once; the rest queue)")
	fs.BoolVar(&f.resultCache, "result-cache", false, "leave Snowflake's result cache on (USE_CACHED_RESULT); startline turns it off by default")
	fs.StringVar(&f.coord, "coord", "local", "how the start is coordinated: local (in this process), sql (sqlcoord's tables through the driver) or nats (NATS JetStream)")
	fs.StringVar(&f.nats, "nats", "", "-coord nats: the NATS server (nats://host:4222); empty: one started in this process")
	fs.IntVar(&f.nodes, "nodes", 2, "-coord sql or nats: the nodes, goroutines each with a pool of its own (-sessions and -workers are shared among them)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.reference {
		set := map[string]bool{}
		fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
		if !set["query-latency"] {
			f.query = "1ms-100ms"
		}
		if !set["insert-latency"] {
			f.insert = "100ms-200ms"
		}
	}
	switch {
	case f.sessions < 1:
		return fmt.Errorf("-sessions must be positive, got %d", f.sessions)
	case f.slots < 1:
		return fmt.Errorf("-warehouse-slots must be positive, got %d", f.slots)
	case f.nodes < 1:
		return fmt.Errorf("-nodes must be positive, got %d", f.nodes)
	case f.coord != "local" && f.coord != "sql" && f.coord != "nats":
		return fmt.Errorf("-coord %q: want local, sql or nats", f.coord)
	case f.nats != "" && f.coord != "nats":
		return errors.New("-nats: only with -coord nats")
	}
	if f.coord != "local" {
		// The nodes share the sessions and workers, so that the warehouse
		// sees the same load as with one process.
		f.sessions = (f.sessions + f.nodes - 1) / f.nodes
		f.workers = (f.workers + f.nodes - 1) / f.nodes
	}
	if f.workers == 0 {
		f.workers = max(1, f.sessions-1)
	}

	// Every error the driver meets comes back as an error; it also logs
	// each statement whose context was cancelled, at error level, which a
	// run does on purpose (a heartbeat in flight when a node leaves).
	_ = gosnowflake.GetLogger().SetLogLevel("fatal")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the orchestrator below if the run ends early

	cfg, local, err := config(f, stdout)
	if err != nil {
		return err
	}
	if local != nil {
		defer local.Close()
		if err := seed(ctx, local.DB(), f.rows); err != nil {
			return fmt.Errorf("seeding the local server: %w", err)
		}
	}
	if f.warehouse == "" {
		f.warehouse = cfg.Warehouse // resumed by Prepare
	}
	runID := "run-" + time.Now().UTC().Format("20060102T150405")
	if f.coord != "local" {
		err = runFleet(ctx, f, cfg, local == nil, runID, stdout)
		if local != nil {
			printStatements(stdout, f, local.Statements())
		}
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	p, err := snowflake.New(cfg, snowflake.Options{Settings: f.settings(runID, "")})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := createTables(ctx, p.DB(), local == nil, f.rows); err != nil {
		return err
	}

	// An orchestrator in this process: it starts the run 10ms after the
	// worker is ready, as one on another host would.
	coord := coordinate.NewLocal(coordinate.LocalOptions{})
	go func() { _, _ = coord.StartWhenReady(ctx, coordinate.Readiness{Nodes: 1}, 10*time.Millisecond) }()

	sinks := []loadtest.Sink{&resultsSink{db: p.DB()}, loadtest.TextSink{W: stdout}}
	if f.jsonPath != "" {
		out, err := os.Create(f.jsonPath)
		if err != nil {
			return err
		}
		defer out.Close()
		sinks = append(sinks, loadtest.JSONSink{W: out, Indent: true})
	}

	r, err := loadtest.New(loadtest.Config{
		RunID:             runID,
		Pool:              p,
		Conns:             f.sessions,
		Profiler:          &profile.SQLProfiler{DB: p.DB(), Dialect: dialect.Snowflake},
		Coordinator:       heartbeats{Coordinator: coord, db: p.DB(), run: runID},
		Workers:           f.workers,
		Warmup:            f.warmup,
		Duration:          f.duration,
		Sinks:             sinks,
		WritesAfterSignal: f.reference,
		Workload:          workload(),
	})
	if err != nil {
		return err
	}
	// The Runner resumes the warehouse (Pool.Prepare) after pool.init, as
	// the warehouse.resume span, before the barrier.
	_, err = r.Run(ctx)

	fmt.Fprintln(stdout)
	printLogins(stdout, p.Logins())
	settings, _ := json.Marshal(p.Settings())
	fmt.Fprintf(stdout, "session settings: %s\n", settings)
	if local != nil {
		c := local.Counters()
		fmt.Fprintf(stdout, "local server: %d login attempts, %d sessions, %d statements, %d warehouse resumes, %d queued, %d result cache hits\n",
			c.LoginAttempts, c.Logins, c.Statements, c.WarehouseResumes, c.Queued, c.CacheHits)
		printStatements(stdout, f, local.Statements())
	}
	if errors.Is(err, context.Canceled) {
		return nil // interrupted: the report of what was measured is printed
	}
	return err
}

// config returns the driver configuration: a real account's when one is
// given, else the local server's (which it starts).
func config(f flags, stdout io.Writer) (*gosnowflake.Config, *snowflaketest.Server, error) {
	if f.dsn != "" {
		cfg, err := gosnowflake.ParseDSN(f.dsn)
		if err != nil {
			return nil, nil, errors.New("-dsn does not parse (see the gosnowflake DSN format)")
		}
		return cfg, nil, nil
	}
	if cfg, ok, err := snowflake.ConfigFromEnv(); ok || err != nil {
		return cfg, nil, err
	}
	opts := snowflaketest.Options{Warehouse: snowflaketest.WarehouseOptions{MaxConcurrency: f.slots}}
	for _, l := range []struct {
		name, v string
		dst     *snowflaketest.Latency
	}{
		{"-login-latency", f.login, &opts.LoginLatency},
		{"-query-latency", f.query, &opts.QueryLatency},
		{"-insert-latency", f.insert, &opts.InsertLatency},
		{"-resume-latency", f.resume, &opts.ResumeLatency},
	} {
		lat, err := parseLatency(l.v)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", l.name, err)
		}
		*l.dst = lat
	}
	srv, err := snowflaketest.NewServer(opts)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(stdout, "local Snowflake-protocol server at %s: login %s, query %s, insert %s; warehouse of %d slots\n\n",
		srv.Addr(), f.login, f.query, f.insert, f.slots)
	cfg := srv.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)
	if f.warehouse == "" {
		cfg.Warehouse = "STARTLINE_WH"
	}
	return cfg, srv, nil
}

// settings are the session settings of a node's pool (node "" is this
// process's default name).
func (f flags) settings(runID, node string) snowflake.Settings {
	return snowflake.Settings{
		RunID: runID, Node: node, Warehouse: f.warehouse, StatementTimeout: 5 * time.Minute, ResultCache: f.resultCache,
	}
}

// parseLatency reads "D" or "MIN-MAX".
func parseLatency(s string) (snowflaketest.Latency, error) {
	lo, hi, ranged := strings.Cut(s, "-")
	a, err := time.ParseDuration(lo)
	if err != nil {
		return snowflaketest.Latency{}, err
	}
	if !ranged {
		return snowflaketest.Fixed(a), nil
	}
	b, err := time.ParseDuration(hi)
	if err != nil {
		return snowflaketest.Latency{}, err
	}
	if b < a || a < 0 {
		return snowflaketest.Latency{}, fmt.Errorf("%q: want 0 <= MIN <= MAX", s)
	}
	return snowflaketest.Between(a, b), nil
}

func workload() loadtest.Workload {
	return loadtest.Workload{
		Tables: []profile.TableSpec{{Table: accountsTable, Key: "ID", Columns: []string{"REGION"}, Sample: 1000}},
		Operations: []loadtest.Operation{
			loadtest.QueryOp("point_select", 80, `SELECT "ID", "NAME", "BALANCE" FROM "STARTLINE_ACCOUNTS" WHERE "ID" = ?`,
				func(w *loadtest.Worker, buf []any) []any {
					return append(buf, w.Profile().Table(accountsTable).RandomID(w.Rand()))
				}),
			loadtest.QueryOp("region_top", 20, `SELECT "ID", "BALANCE" FROM "STARTLINE_ACCOUNTS" WHERE "REGION" = ? ORDER BY "BALANCE" DESC LIMIT 10`,
				func(w *loadtest.Worker, buf []any) []any {
					return append(buf, w.Profile().Table(accountsTable).Value("REGION", w.Rand()))
				}),
		},
	}
}

var regions = []string{"emea", "amer", "apac", "latam", "anz"}

// seed fills the local server's database directly: seeding row by row
// through the driver would pay the insert latency for each row.
func seed(ctx context.Context, db *sql.DB, n int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE "STARTLINE_ACCOUNTS" ("ID" INTEGER PRIMARY KEY, "NAME" TEXT, "BALANCE" INTEGER, "REGION" TEXT)`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE INDEX "ACCOUNTS_REGION_BALANCE" ON "STARTLINE_ACCOUNTS" ("REGION", "BALANCE")`); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO "STARTLINE_ACCOUNTS" VALUES (?, ?, ?, ?)`)
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

// createTables creates the heartbeat and results tables through the
// driver, and on a real account the accounts table too.
func createTables(ctx context.Context, db *sql.DB, live bool, rows int) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS "` + heartbeatsTable + `" ("RUN_ID" VARCHAR, "NODE" VARCHAR, "STATUS" VARCHAR, "PHASE" VARCHAR, "AT" TIMESTAMP_NTZ)`,
		`CREATE TABLE IF NOT EXISTS "` + resultsTable + `" ("RUN_ID" VARCHAR, "NODE" VARCHAR, "STATUS" VARCHAR, "OPS" NUMBER(38,0), "ERRORS" NUMBER(38,0), "P50_MS" FLOAT, "P99_MS" FLOAT, "AT" TIMESTAMP_NTZ)`,
	}
	if live {
		stmts = append(stmts, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS "%s" AS SELECT SEQ8() + 1 AS "ID", 'user-' || SEQ8() AS "NAME", UNIFORM(0, 1000000, RANDOM()) AS "BALANCE", ARRAY_CONSTRUCT('emea','amer','apac','latam','anz')[UNIFORM(0, 4, RANDOM())]::VARCHAR AS "REGION" FROM TABLE(GENERATOR(ROWCOUNT => %d))`, accountsTable, rows))
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("creating tables: %w", err)
		}
	}
	return nil
}

// heartbeats is the in-process coordinator whose state reports are also
// written to a Snowflake table, as the reference harness's heartbeats were:
// each report costs an insert.
type heartbeats struct {
	coordinate.Coordinator
	db  *sql.DB
	run string
}

func (h heartbeats) Join(ctx context.Context, w coordinate.Node) (coordinate.Member, error) {
	m, err := h.Coordinator.Join(ctx, w)
	if err != nil {
		return nil, err
	}
	return heartbeatMember{Member: m, h: h, node: w.ID}, nil
}

type heartbeatMember struct {
	coordinate.Member
	h    heartbeats
	node string
}

func (m heartbeatMember) SetState(ctx context.Context, s coordinate.State) error {
	if _, err := m.h.db.ExecContext(ctx, `INSERT INTO "`+heartbeatsTable+`" VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP())`,
		m.h.run, m.node, string(s.Status), s.Phase); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return m.Member.SetState(ctx, s)
}

// resultsSink writes the test start and the result to the TEST_RESULTS
// table through the driver.
type resultsSink struct{ db *sql.DB }

func (s *resultsSink) TestStart(ctx context.Context, info loadtest.RunInfo) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO "`+resultsTable+`" ("RUN_ID", "NODE", "STATUS", "AT") VALUES (?, ?, 'STARTED', CURRENT_TIMESTAMP())`,
		info.RunID, info.Node)
	return err
}

func (s *resultsSink) Write(ctx context.Context, res *loadtest.Result) error {
	m := res.Phases.Measure
	_, err := s.db.ExecContext(ctx, `INSERT INTO "`+resultsTable+`" VALUES (?, ?, 'DONE', ?, ?, ?, ?, CURRENT_TIMESTAMP())`,
		res.RunID, res.Node, m.Ops, m.Errors,
		float64(m.Latency.P50)/float64(time.Millisecond), float64(m.Latency.P99)/float64(time.Millisecond))
	return err
}

// printLogins prints the distribution of the logins' latencies.
func printLogins(w io.Writer, logins []snowflake.Login) {
	if len(logins) == 0 {
		return
	}
	lat := make([]time.Duration, 0, len(logins))
	retried, failed := 0, 0
	for _, l := range logins {
		lat = append(lat, l.End.Sub(l.Start))
		if l.Attempts > 1 {
			retried++
		}
		if l.Err != nil {
			failed++
		}
	}
	slices.Sort(lat)
	q := func(f float64) string { return timing.FormatDuration(lat[int(f*float64(len(lat)-1))]) }
	fmt.Fprintf(w, "logins: %d (retried %d, failed %d)  min %s  p50 %s  p90 %s  p99 %s  max %s\n",
		len(lat), retried, failed, q(0), q(0.5), q(0.9), q(0.99), q(1))
}
