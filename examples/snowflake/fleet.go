package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/snowflakedb/gosnowflake"

	"github.com/startline/startline/coordinate"
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

// runFleet runs the reference harness's whole setup through Snowflake: an
// orchestrator and f.nodes nodes coordinating through sqlcoord's tables,
// the nodes writing their results through sqlsink, everything through
// gosnowflake. It prints the merged report, where the time from the
// orchestrator's start to the first query went, and writes the merged
// result to f.jsonPath.
func runFleet(ctx context.Context, f flags, cfg *gosnowflake.Config, live bool, runID string, stdout io.Writer) error {
	began := time.Now() // the orchestrator's start
	op, err := snowflake.New(cfg, snowflake.Options{Settings: f.settings(runID, coordinate.OrchestratorNode)})
	if err != nil {
		return err
	}
	defer op.Close()
	db := op.DB()
	if err := createTables(ctx, db, live, f.rows); err != nil {
		return err
	}
	tables := sqlcoord.Tables{DB: db, Dialect: dialect.Snowflake, Prefix: coordPrefix}
	if err := tables.Create(ctx); err != nil {
		return err
	}
	results, err := sqlsink.New(db, dialect.Snowflake, sqlsink.Options{Prefix: resultsPrefix})
	if err != nil {
		return err
	}
	if err := results.CreateSchema(ctx); err != nil {
		return err
	}
	backend, err := sqlcoord.New(sqlcoord.Options{Tables: tables, RunID: runID})
	if err != nil {
		return err
	}
	run, err := coordinate.NewRun(ctx, backend, f.kit(true))
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
	got, cerr := loadtest.Collect(cctx, results, runID, nodes)
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
	fmt.Fprintf(stdout, "%d nodes x %d workers coordinating through sqlcoord's tables (%s*) and writing results through sqlsink (%s*), all through gosnowflake; %s\n\n",
		f.nodes, f.workers, coordPrefix, resultsPrefix, order)
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

// runNode is one node of -coord sql: its own pool of sessions, its own
// coordinator client over sqlcoord's tables and its own results store,
// all through its pool's database handle.
func runNode(ctx context.Context, f flags, cfg *gosnowflake.Config, runID, node string) error {
	p, err := snowflake.New(cfg, snowflake.Options{Settings: f.settings(runID, node)})
	if err != nil {
		return err
	}
	defer p.Close()
	tables := sqlcoord.Tables{DB: p.DB(), Dialect: dialect.Snowflake, Prefix: coordPrefix}
	backend, err := sqlcoord.New(sqlcoord.Options{Tables: tables, RunID: runID})
	if err != nil {
		return err
	}
	client, err := coordinate.NewClient(backend, f.kit(false))
	if err != nil {
		return err
	}
	results, err := sqlsink.New(p.DB(), dialect.Snowflake, sqlsink.Options{Prefix: resultsPrefix})
	if err != nil {
		return err
	}
	// The orchestrator created the tables; the sink's check (DDL) is made
	// now, not in results.test_start.
	if err := results.CreateSchema(ctx); err != nil {
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
		Sinks:             []loadtest.Sink{results},
		WritesAfterSignal: f.reference,
		Workload:          workload(),
	})
	if err != nil {
		return err
	}
	_, err = r.Run(ctx)
	return err
}
