package sqlcoord_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/sqlpool"
	"github.com/startline/startline/timing"
)

// runnerChildMain is a node process running a real Runner: SELECT 1 on an
// in-memory SQLite database, coordinated through the tables, its results
// written to a sqlsink on the coordination database, until the
// orchestrator stops or aborts it. It prints "running" when its measured
// window starts. Exit codes: 0 done, 2 error, 3 aborted.
func runnerChildMain() int {
	env := os.Getenv
	cdb, err := sql.Open(env("SQLCOORD_DRIVER"), env("SQLCOORD_DSN"))
	if err != nil {
		fmt.Println("open:", err)
		return 2
	}
	defer cdb.Close()
	d, err := dialect.ForDriver(env("SQLCOORD_DRIVER"))
	if err != nil {
		fmt.Println("dialect:", err)
		return 2
	}
	tb := sqlcoord.Tables{DB: cdb, Dialect: d, Prefix: env("SQLCOORD_PREFIX")}
	b, err := sqlcoord.New(sqlcoord.Options{Tables: tb, RunID: env("SQLCOORD_RUN")})
	if err != nil {
		fmt.Println("new:", err)
		return 2
	}
	opts := fast()
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := coordinate.NewClient(b, opts)
	if err != nil {
		fmt.Println("client:", err)
		return 2
	}
	sink, err := sqlsink.New(cdb, d, sqlsink.Options{Prefix: tb.Prefix, SpillDir: os.TempDir()})
	if err != nil {
		fmt.Println("sink:", err)
		return 2
	}
	wdb, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		fmt.Println("open:", err)
		return 2
	}
	wdb.SetMaxOpenConns(2)
	p := sqlpool.New(wdb, sqlpool.Options{})
	defer p.Close()
	r, err := loadtest.New(loadtest.Config{
		RunID: env("SQLCOORD_RUN"), Node: env("SQLCOORD_NODE"), Pool: p, Coordinator: c, Sinks: []loadtest.Sink{sink},
		// Intervals far apart: the Runner reads control events between
		// intervals, and under the race detector on a loaded machine the
		// statistics of a short interval can take longer than the
		// interval itself, which would keep the stop from it.
		Workers: 2, Duration: time.Hour, Interval: 500 * time.Millisecond,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{{Name: "one", Weight: 1, Run: func(ctx context.Context, w *loadtest.Worker) error {
			// A query, then a pause, as a client that thinks: two workers
			// spinning on SQLite would starve the heartbeats of a loaded
			// host (and the test's other processes).
			if _, err := w.Session().Query(ctx, "SELECT 1"); err != nil {
				return err
			}
			t := time.NewTimer(time.Millisecond)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}}},
		Hooks: loadtest.Hooks{PhaseStart: func(i loadtest.PhaseStartInfo) {
			if i.Phase == timing.Measure {
				fmt.Println("running")
			}
		}},
	})
	if err != nil {
		fmt.Println("config:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := r.Run(ctx); err != nil {
		fmt.Println("run:", err)
		if errors.Is(err, loadtest.ErrAborted) {
			return 3
		}
		return 2
	}
	return 0
}

// spawnRunner starts a node process running runnerChildMain.
func spawnRunner(t *testing.T, db database, tb sqlcoord.Tables, run, id string) *child {
	t.Helper()
	return spawn(t, db, tb, run, id, "SQLCOORD_MODE=runner")
}

// TestKilledNodeLostMidRun kills a node process in the middle of its
// measured window. The orchestrator declares it lost once its heartbeats
// are MissedBeats old; what it wrote before dying (its test start, its
// last reported phase) is kept. Under LostContinue the other node runs on
// and its full result is collected; under LostAbort the other node is
// aborted and its result, up to the abort, is still collected.
func TestKilledNodeLostMidRun(t *testing.T) {
	for _, policy := range []coordinate.LostPolicy{coordinate.LostContinue, coordinate.LostAbort} {
		t.Run(policy.String(), func(t *testing.T) {
			db := sqliteDatabase(t)
			ctx := context.Background()
			h := open(t, db)
			tb := tables(t, db, h)
			run := runID()
			const missed = 50 // 1s of silence: generous, the machine is shared
			o := orchestrator(t, backend(t, tb, run, nil), func(oo *coordinate.Options) {
				oo.MissedBeats, oo.OnLost = missed, policy
			})
			victim := spawnRunner(t, db, tb, run, "victim")
			other := spawnRunner(t, db, tb, run, "other")
			_, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: 2}, 50*time.Millisecond)
			require.NoError(t, err)
			require.Equal(t, "running", victim.line(t))
			require.Equal(t, "running", other.line(t))
			time.Sleep(100 * time.Millisecond) // into the measured window
			require.NoError(t, victim.cmd.Process.Kill())
			killed := time.Now()

			lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
			defer lcancel()
			var lost []string
			for len(lost) == 0 && lctx.Err() == nil {
				lost, err = o.CheckLost(lctx)
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("declared lost %s after the kill (budget %s)", time.Since(killed).Round(time.Millisecond), missed*fast().Heartbeat)
			require.Equal(t, []string{"victim"}, lost)
			marks := o.Timeline().Find(timing.CoordLost)
			require.Len(t, marks, 1)
			assert.Equal(t, "victim", marks[0].Node)

			// What the victim wrote is kept: its last reported state and
			// phase, and its test start in the results store.
			var state, phase string
			require.NoError(t, h.QueryRowContext(ctx, "SELECT state, phase FROM "+tb.Prefix+"nodes WHERE run_id = ? AND node_id = ?",
				run, "victim").Scan(&state, &phase))
			assert.Equal(t, string(coordinate.StatusLost), state)
			assert.Equal(t, "measure", phase, "the last phase it reported (RUNNING, in the measured window: the run has no warmup)")
			var status string
			require.NoError(t, h.QueryRowContext(ctx, "SELECT status FROM "+tb.Prefix+sqlsink.TestResults+" WHERE run_id = ? AND node = ?",
				run, "victim").Scan(&status))
			assert.Equal(t, sqlsink.StatusStarted, status, "the test start it recorded")

			if policy == coordinate.LostContinue {
				require.NoError(t, err)
				time.Sleep(100 * time.Millisecond) // the other goes on
				_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, coordinate.ErrLost)
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			st, derr := o.AwaitDone(cctx)
			require.Len(t, st, 2)
			sink, err := sqlsink.New(h, db.d, sqlsink.Options{Prefix: tb.Prefix})
			require.NoError(t, err)
			results, cerr := loadtest.Collect(cctx, sink, run, []string{"other"})
			require.NoError(t, cerr)
			require.Len(t, results, 1, "the other node's result; lost: %v", o.Lost())
			res := results[0]
			assert.Equal(t, "other", res.Node)
			assert.Positive(t, res.Phases.Measure.Ops)
			// Only operations interrupted by an abort may fail: cancelled.
			assert.Equal(t, res.Phases.Measure.Errors, res.Phases.Measure.ErrorsByKind["canceled"], "%v", res.Phases.Measure.ErrorSamples)
			if policy == coordinate.LostContinue {
				require.NoError(t, derr)
				assert.Equal(t, "stop: ", res.Stopped)
				assert.Equal(t, 0, other.exitCode(t))
				return
			}
			require.ErrorIs(t, derr, coordinate.ErrLost)
			assert.Contains(t, res.Error, "aborted")
			assert.Equal(t, 3, other.exitCode(t))
		})
	}
}
