package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/snowflakedb/gosnowflake"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/natscoord"
	"github.com/startline/startline/coordinate/natscoord/natsembed"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/profile"
)

// Table prefixes of -coord sql: the coordinator's tables (runs, nodes,
// events) and the results store's.
const (
	coordPrefix   = "STARTLINE_COORD_"
	resultsPrefix = "STARTLINE_RESULTS_"
)

// kit is the coordination's timing under -coord sql: the reference
// harness's one second (its _wait_for_start loop polled RUN_STATUS and
// RUN_CONTROL_EVENTS and beat once a second), or fast polling. Each poll
// and beat is a statement on the warehouse. A node is lost after ten
// missed beats: its beats queue behind the workload for a slot.
func (f flags) kit(orchestrator bool) coordinate.Options {
	o := coordinate.Options{Heartbeat: 200 * time.Millisecond, Poll: 50 * time.Millisecond, MissedBeats: 10}
	if f.reference {
		o.Heartbeat, o.Poll = time.Second, time.Second
	}
	if orchestrator && !f.reference {
		o.Poll = 50 * time.Millisecond
	}
	return o
}

// lead is how long before T the orchestrator publishes the start: the
// reference starts "now" and its nodes learn of it at their next poll; the
// fast order gives every node's poll (and its statement's queueing) time
// to see T before it comes.
func (f flags) lead() time.Duration {
	if f.reference {
		return 10 * time.Millisecond
	}
	return 300 * time.Millisecond
}

// runFleet runs the reference harness's whole setup: an orchestrator and
// f.nodes nodes coordinating through sqlcoord's tables (-coord sql) or NATS
// JetStream (-coord nats), the nodes writing their results through sqlsink
// or over NATS, the workload through gosnowflake. It prints the merged
// report, where the time from the orchestrator's start to the first query
// went, and writes the merged result to f.jsonPath.
func runFleet(ctx context.Context, f flags, cfg *gosnowflake.Config, live bool, runID string, stdout io.Writer) error {
	began := time.Now() // the orchestrator's start
	op, err := snowflake.New(cfg, snowflake.Options{Settings: f.settings(runID, coordinate.OrchestratorNode)})
	if err != nil {
		return err
	}
	defer op.Close()
	if err := createTables(ctx, op.DB(), live, f.rows); err != nil {
		return err
	}
	if f.coord == "nats" && f.nats == "" {
		srv, err := natsembed.Start(natsembed.Options{})
		if err != nil {
			return fmt.Errorf("-coord nats: starting the embedded NATS server: %w", err)
		}
		defer srv.Stop()
		f.nats = srv.ClientURL()
	}
	orch, err := f.fleetParts(ctx, op.DB(), runID, true)
	if err != nil {
		return err
	}
	defer orch.close()
	run, err := coordinate.NewRun(ctx, orch.backend, f.kit(true))
	if err != nil {
		return err
	}

	nodes := make([]string, f.nodes)
	errs := make([]error, f.nodes)
	nctx, cancelNodes := context.WithCancel(ctx)
	defer cancelNodes()
	var wg sync.WaitGroup
	for i := range nodes {
		nodes[i] = fmt.Sprintf("node-%d", i+1)
		wg.Go(func() { errs[i] = runNode(nctx, f, cfg, runID, nodes[i]) })
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if _, err := run.StartWhenReady(rctx, coordinate.Readiness{Nodes: f.nodes}, f.lead()); err != nil {
		cancelNodes()
		wg.Wait()
		return errors.Join(fmt.Errorf("the run did not start: %w", err), nodeErrors(nodes, errs))
	}
	_, doneErr := run.AwaitDone(rctx)
	wg.Wait()
	cctx, ccancel := context.WithTimeout(ctx, time.Minute)
	defer ccancel()
	got, cerr := loadtest.Collect(cctx, orch.results, runID, nodes)
	if len(got) == 0 {
		return errors.Join(cerr, doneErr, nodeErrors(nodes, errs))
	}
	merged, err := loadtest.MergeWith(run.Timeline(), got...)
	if err != nil {
		return err
	}
	order := "fast order"
	if f.reference {
		order = "reference order (1s polling and beats; RUNNING and the test start after the signal)"
	}
	through := fmt.Sprintf("coordinating through sqlcoord's tables (%s*) and writing results through sqlsink (%s*), all through gosnowflake", coordPrefix, resultsPrefix)
	if f.coord == "nats" {
		through = "coordinating through NATS JetStream (" + natscoord.Redact(f.nats) + ") and sending their results over it, the workload alone through gosnowflake"
	}
	fmt.Fprintf(stdout, "%d nodes x %d workers %s; %s\n\n", f.nodes, f.workers, through, order)
	if err := merged.WriteText(stdout); err != nil {
		return err
	}
	printGap(stdout, merged, began)
	if f.jsonPath != "" {
		data, err := json.MarshalIndent(merged, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.jsonPath, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return errors.Join(doneErr, cerr, nodeErrors(nodes, errs))
}

// nodeErrors joins the nodes' errors, each naming its node.
func nodeErrors(nodes []string, errs []error) error {
	var out []error
	for i, err := range errs {
		if err != nil {
			out = append(out, fmt.Errorf("%s: %w", nodes[i], err))
		}
	}
	return errors.Join(out...)
}

// fleet is what one node, or the orchestrator, of -coord sql or nats
// coordinates through and stores its result in.
type fleet struct {
	backend coordinate.Backend
	results interface {
		loadtest.ResultSource
		loadtest.Sink
	}
	close func()
}

// natsResults is natscoord's results store as a Sink as well.
type natsResults struct {
	loadtest.Sink
	store *natscoord.Results
}

// Results reads the nodes' results from the store.
func (n natsResults) Results(ctx context.Context, runID string, nodes []string) (map[string][]byte, error) {
	return n.store.Results(ctx, runID, nodes)
}

// fleetParts opens run runID's coordinator backend and results store:
// sqlcoord's and sqlsink's tables through db (created by the orchestrator,
// before any node writes to them: tables created at once race), or the
// NATS server at f.nats, which the warehouse never sees. The orchestrator's
// NATS backend answers the nodes' clock requests.
func (f flags) fleetParts(ctx context.Context, db *sql.DB, runID string, orchestrator bool) (fleet, error) {
	if f.coord == "nats" {
		b, err := natscoord.New(natscoord.Options{URL: f.nats, RunID: runID, ServeClock: orchestrator})
		if err != nil {
			return fleet{}, err
		}
		res, err := natscoord.NewResults(b.Conn())
		if err != nil {
			b.Close()
			return fleet{}, err
		}
		return fleet{backend: b, results: natsResults{Sink: loadtest.ResultSink(res), store: res}, close: func() { b.Close() }}, nil
	}
	tables := sqlcoord.Tables{DB: db, Dialect: dialect.Snowflake, Prefix: coordPrefix}
	results, err := sqlsink.New(db, dialect.Snowflake, sqlsink.Options{Prefix: resultsPrefix})
	if err != nil {
		return fleet{}, err
	}
	if orchestrator {
		if err := tables.Create(ctx); err != nil {
			return fleet{}, err
		}
	}
	// The sink's check (DDL) is made now, not in results.test_start.
	if err := results.CreateSchema(ctx); err != nil {
		return fleet{}, err
	}
	b, err := sqlcoord.New(sqlcoord.Options{Tables: tables, RunID: runID})
	if err != nil {
		return fleet{}, err
	}
	return fleet{backend: b, results: results, close: func() {}}, nil
}

// runNode is one node of -coord sql or nats: its own pool of sessions,
// and its own coordinator client and results store (through its pool's
// database handle, or its own NATS connection).
func runNode(ctx context.Context, f flags, cfg *gosnowflake.Config, runID, node string) error {
	p, err := snowflake.New(cfg, snowflake.Options{Settings: f.settings(runID, node)})
	if err != nil {
		return err
	}
	defer p.Close()
	parts, err := f.fleetParts(ctx, p.DB(), runID, false)
	if err != nil {
		return err
	}
	defer parts.close()
	client, err := coordinate.NewClient(parts.backend, f.kit(false))
	if err != nil {
		return err
	}
	r, err := loadtest.New(loadtest.Config{
		RunID:             runID,
		Node:              node,
		Pool:              p,
		Conns:             f.sessions,
		Profiler:          &profile.SQLProfiler{DB: p.DB(), Dialect: dialect.Snowflake},
		Coordinator:       client,
		Workers:           f.workers,
		Warmup:            f.warmup,
		Duration:          f.duration,
		Sinks:             []loadtest.Sink{parts.results},
		WritesAfterSignal: f.reference,
		Workload:          workload(),
	})
	if err != nil {
		return err
	}
	_, err = r.Run(ctx)
	return err
}
