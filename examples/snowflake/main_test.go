package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/timing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSnowflakeExample runs the contract command, shortened, against the
// local server: the warm-up of every session is on the timeline, one
// pool.conn mark per login, and the warehouse is resumed in its own span
// before the barrier.
func TestSnowflakeExample(t *testing.T) {
	t.Setenv("SNOWFLAKE_DSN", "")
	t.Setenv("SNOWFLAKE_ACCOUNT", "")
	out := filepath.Join(t.TempDir(), "result.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{
		"-sessions", "12", "-login-latency", "20ms", "-query-latency", "1ms", "-rows", "500",
		"-warmup", "0s", "-duration", "300ms", "-json", out,
	}, &stdout, &stderr)
	require.NoError(t, err, "stderr: %s", stderr.String())
	assert.Contains(t, stdout.String(), "logins: 12")

	res, err := loadtest.ReadResultFile(out)
	require.NoError(t, err)
	init := res.Timeline.Find(timing.PoolInit)
	require.Len(t, init, 1)
	conns := res.Timeline.Find(timing.PoolConn)
	require.Len(t, conns, 12, "one mark per login")
	// Each new session pays the server's login latency; the one the example
	// opened before the run to create its tables is reused, idle.
	fresh := 0
	for _, c := range conns {
		if c.Duration() >= 20*time.Millisecond {
			fresh++
		}
	}
	assert.GreaterOrEqual(t, fresh, 11)
	resume := res.Timeline.Find(snowflake.PhaseWarehouseResume)
	require.Len(t, resume, 1)
	assert.GreaterOrEqual(t, resume[0].Start, init[0].End)
	start := res.Timeline.Find(timing.CoordStart)
	require.Len(t, start, 1)
	assert.LessOrEqual(t, resume[0].End, start[0].Start, "the warehouse is resumed before the start signal")
	assert.Equal(t, "STARTLINE_WH", res.Pool["warehouse"])
	assert.Equal(t, "false", res.Pool["use_cached_result"])
	assert.Greater(t, res.Phases.Measure.Ops, int64(0))
	assert.Zero(t, res.Phases.Measure.Errors, "%v", res.Phases.Measure.ErrorSamples)
}

// runExample runs the command with args (and a JSON file), against the
// local server, and returns its report and result.
func runExample(t *testing.T, args ...string) (string, *loadtest.Result) {
	t.Helper()
	t.Setenv("SNOWFLAKE_DSN", "")
	t.Setenv("SNOWFLAKE_ACCOUNT", "")
	out := filepath.Join(t.TempDir(), "result.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append(args, "-json", out), &stdout, &stderr)
	require.NoError(t, err, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
	res, err := loadtest.ReadResultFile(out)
	require.NoError(t, err)
	return stdout.String(), res
}

// short are the flags that keep a test's run short. Without a warmup,
// every worker's first operation is the measured window's, which holds
// at least one operation per worker however slow the machine.
var short = []string{"-sessions", "9", "-login-latency", "10ms", "-query-latency", "2ms", "-rows", "300", "-warmup", "0s", "-duration", "400ms"}

// The contract's first command, shortened: every operation's statements
// are found in the server's history, and the report shows the split.
func TestExampleServerSplit(t *testing.T) {
	out, res := runExample(t, short...)
	require.Len(t, res.Operations, 2)
	for name, st := range res.Operations {
		require.NotNil(t, st.Server, name)
		assert.Positive(t, st.Server.Matched, name)
		assert.Equal(t, st.Ops, st.Server.Matched, name)
	}
	reads := res.Timeline.Find(timing.ServerHistory)
	require.Len(t, reads, 1)
	assert.GreaterOrEqual(t, reads[0].Start, res.Timeline.Find(timing.Measure)[0].End)
	assert.Contains(t, out, "the server's split of each statement")
	assert.Contains(t, out, "the coordinator (-coord local) ran")
}

// More workers than the warehouse has slots: the split shows them queue.
func TestExampleQueueing(t *testing.T) {
	_, res := runExample(t, append(short, "-workers", "8", "-warehouse-slots", "2")...)
	queued := false
	for _, st := range res.Operations {
		queued = queued || st.Server.QueuedOverload.P50 > 0
	}
	assert.True(t, queued, "some operation's queued_overload p50 > 0")
}

// With -result-cache the cache answers repeated queries: the report says
// how many, and their latencies are the cache's.
func TestExampleResultCache(t *testing.T) {
	out, res := runExample(t, append(short, "-result-cache", "-duration", "1500ms")...)
	assert.Equal(t, "true", res.Pool["use_cached_result"])
	require.NotNil(t, res.Phases.Measure.Server)
	// region_top has five distinct arguments, point_select 300: once a
	// query has been answered, the same one again is a hit.
	assert.Positive(t, res.Phases.Measure.Server.CacheHits)
	assert.Contains(t, out, "answered from the server's result cache")
}

// -coord sql runs the orchestrator and the nodes through sqlcoord's tables
// and sqlsink on the local server. With -reference the writes come after
// the start signal, on the path to the first query, and each is an insert
// of at least 100ms: the gap from T to the first query holds them. Without
// it they come before T.
func TestExampleCoordSQL(t *testing.T) {
	args := append(short, "-coord", "sql", "-nodes", "2")
	for _, reference := range []bool{false, true} {
		t.Run(map[bool]string{false: "fast", true: "reference"}[reference], func(t *testing.T) {
			a := args
			if reference {
				a = append(a, "-reference", "-query-latency", "1ms-5ms")
			}
			out, res := runExample(t, a...)
			require.NotNil(t, res.Start, "a merged result")
			assert.Equal(t, "sql", res.Start.Coordinator)
			assert.Len(t, res.Workers, 2, "two nodes")
			assert.Equal(t, 8, res.Start.Workers, "4 workers on each of the 2 nodes")
			at := res.Start.At
			for _, ph := range []timing.Phase{timing.HeartbeatRunning, timing.ResultsTestStart} {
				marks := res.Timeline.Find(ph)
				require.Len(t, marks, 2, "%s on each node", ph)
				for _, m := range marks {
					if reference {
						assert.GreaterOrEqual(t, m.Start, at-5*time.Millisecond, "%s after T (within the clocks' alignment)", ph)
						assert.GreaterOrEqual(t, m.Duration(), 100*time.Millisecond, "%s is an insert of 100-200ms", ph)
					} else {
						assert.Less(t, m.End, at, "%s before T", ph)
					}
				}
			}
			if reference {
				assert.GreaterOrEqual(t, res.Start.SignalToFirstQuery.Min, 300*time.Millisecond, "the writes after T: three inserts of at least 100ms")
			}
			for name, st := range res.Operations {
				require.NotNil(t, st.Server, name)
				assert.Equal(t, st.Ops, st.Server.Matched, "%s: the nodes' splits merged", name)
			}
			assert.Contains(t, out, "from the orchestrator's start to the first query")
			assert.Regexp(t, `the coordinator \(-coord sql\) ran [1-9]\d* statements on the warehouse`, out)
		})
	}
}

// -coord nats runs the same fleet as -coord sql, coordinating through an
// embedded NATS server and sending its results over it: the warehouse runs
// the workload, the setup and the history reads, and not one coordination
// or results statement.
func TestExampleCoordNATS(t *testing.T) {
	out, res := runExample(t, append(short, "-coord", "nats", "-nodes", "2")...)
	require.NotNil(t, res.Start, "a merged result")
	assert.Equal(t, "nats", res.Start.Coordinator)
	assert.Len(t, res.Workers, 2, "two nodes")
	assert.Equal(t, 8, res.Start.Workers, "4 workers on each of the 2 nodes")
	assert.Greater(t, res.Phases.Measure.Ops, int64(0))
	for name, st := range res.Operations {
		require.NotNil(t, st.Server, name)
		assert.Equal(t, st.Ops, st.Server.Matched, "%s: the nodes' splits merged", name)
	}
	require.Len(t, res.Timeline.Find(timing.QueryFirst), 8, "every worker's first query, merged from both nodes")
	assert.Regexp(t, `coordinator nats \(NATS JetStream: none here\)\s+0\s+0\n`, out)
	assert.Regexp(t, `results \(over NATS: none here\)\s+0\s+0\n`, out)
	assert.Contains(t, out, "the coordinator (-coord nats) ran 0 statements on the warehouse")
	assert.Contains(t, out, "from the orchestrator's start to the first query")
}

func TestExampleRefusesBadCoord(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-coord", "carrier-pigeon"}, &stdout, &stderr)
	assert.ErrorContains(t, err, `-coord "carrier-pigeon"`)
	err = run(context.Background(), []string{"-coord", "sql", "-nats", "nats://127.0.0.1:4222"}, &stdout, &stderr)
	assert.ErrorContains(t, err, "-nats: only with -coord nats")
}
