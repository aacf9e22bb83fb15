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
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/sqlpool"
	"github.com/startline/startline/timing"
)

// runnerChildMain is a worker process running a real Runner: SELECT 1 on
// an in-memory SQLite database, coordinated through the tables, until the
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
	opts := fast(sqlcoord.Tables{DB: cdb, Dialect: d, Prefix: env("SQLCOORD_PREFIX")}, env("SQLCOORD_RUN"))
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := sqlcoord.New(opts)
	if err != nil {
		fmt.Println("new:", err)
		return 2
	}
	wdb, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		fmt.Println("open:", err)
		return 2
	}
	wdb.SetMaxOpenConns(2)
	p := sqlpool.New(wdb, sqlpool.Options{})
	defer p.Close()
	r, err := loadtest.New(loadtest.Config{
		Node: env("SQLCOORD_WORKER"), Pool: p, Coordinator: c, Sinks: []loadtest.Sink{c.Sink()},
		Workers: 2, Duration: time.Hour, Interval: 50 * time.Millisecond,
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

// spawnRunner starts a worker process running runnerChildMain.
func spawnRunner(t *testing.T, b backend, tb sqlcoord.Tables, run, id string) *child {
	t.Helper()
	c := spawn(t, b, tb, run, id, "SQLCOORD_MODE=runner")
	return c
}

// TestKilledWorkerLostMidRun kills a worker process in the middle of its
// measured window. The orchestrator declares it lost once its heartbeats
// are MissedBeats old; what it wrote before dying (its test start, its
// last reported phase) is kept in its row. Under LostContinue the other
// worker runs on and its full result is collected; under LostAbort the
// other worker is aborted and its result, up to the abort, is still
// collected.
func TestKilledWorkerLostMidRun(t *testing.T) {
	for _, policy := range []sqlcoord.LostPolicy{sqlcoord.LostContinue, sqlcoord.LostAbort} {
		t.Run(policy.String(), func(t *testing.T) {
			b := sqliteBackend(t)
			ctx := context.Background()
			db := open(t, b)
			tb := tables(t, b, db)
			const beat, missed = 20 * time.Millisecond, 50 // generous: the machine is shared
			o := orchestrator(t, tb, "run-m", func(oo *sqlcoord.OrchestratorOptions) {
				oo.MissedBeats, oo.OnLost = missed, policy
			})
			victim := spawnRunner(t, b, tb, "run-m", "victim")
			other := spawnRunner(t, b, tb, "run-m", "other")
			_, err := o.StartWhenReady(ctx, coordinate.Readiness{Workers: 2}, 50*time.Millisecond)
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
			t.Logf("declared lost %s after the kill (budget %s)", time.Since(killed).Round(time.Millisecond), missed*beat)
			require.Equal(t, []string{"victim"}, lost)
			marks := o.Timeline().Find(sqlcoord.PhaseLost)
			require.Len(t, marks, 1)
			assert.Equal(t, "victim", marks[0].Node)

			// What the victim wrote is kept.
			var testStart sql.NullInt64
			var state, phase string
			require.NoError(t, db.QueryRowContext(ctx, "SELECT test_start_ns, state, phase FROM "+tb.Prefix+"workers WHERE run_id = ? AND worker_id = ?",
				"run-m", "victim").Scan(&testStart, &state, &phase))
			assert.True(t, testStart.Valid, "the test start it recorded")
			assert.Equal(t, string(coordinate.StatusLost), state)
			assert.Equal(t, "warmup", phase, "the last phase it reported (RUNNING, from the start)")

			if policy == sqlcoord.LostContinue {
				require.NoError(t, err)
				time.Sleep(100 * time.Millisecond) // the other goes on
				_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, sqlcoord.ErrLost)
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			results, cerr := o.Collect(cctx)
			require.Len(t, results, 1, "the other worker's result; collect: %v; lost: %v", cerr, o.Lost())
			res := results[0]
			assert.Equal(t, "other", res.Node)
			assert.Positive(t, res.Phases.Measure.Ops)
			// Only operations interrupted by an abort may fail: cancelled.
			assert.Equal(t, res.Phases.Measure.Errors, res.Phases.Measure.ErrorsByKind["canceled"], "%v", res.Phases.Measure.ErrorSamples)
			if policy == sqlcoord.LostContinue {
				require.NoError(t, cerr)
				assert.Equal(t, "stop: ", res.Stopped)
				assert.Equal(t, 0, other.exitCode(t))
				return
			}
			require.ErrorIs(t, cerr, sqlcoord.ErrLost)
			assert.Contains(t, res.Error, "aborted")
			assert.Equal(t, 3, other.exitCode(t))
		})
	}
}
