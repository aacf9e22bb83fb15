package loadtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// fleetRun runs nodes Runners together through one local coordinator,
// streaming to mem, while m follows the stream; abort, when set, is sent
// by m's OnAbort.
func fleetRun(t *testing.T, runID string, nodes []string, d time.Duration, mem *loadtest.MemoryStream, opts loadtest.LiveOptions) ([]*loadtest.Result, *loadtest.LiveMerge) {
	t.Helper()
	local := coordinate.NewLocal(coordinate.LocalOptions{})
	opts.RunID, opts.Nodes, opts.Interval = runID, nodes, 50*time.Millisecond
	if opts.AbortOnFail {
		opts.OnAbort = func(r loadtest.ThresholdResult) {
			_, _ = local.Send(context.Background(), coordinate.Event{Kind: coordinate.EventAbort, Reason: "threshold " + r.Name})
		}
	}
	m, err := loadtest.NewLiveMerge(opts)
	require.NoError(t, err)
	fctx, stopFollow := context.WithCancel(context.Background())
	followed := make(chan error, 1)
	go func() { followed <- m.Follow(fctx, mem) }()

	results := make([]*loadtest.Result, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		cfg := baseConfig(&memPool{})
		cfg.RunID, cfg.Node, cfg.Coordinator, cfg.Stream = runID, n, local, mem
		cfg.Interval, cfg.Warmup, cfg.Duration = 50*time.Millisecond, 100*time.Millisecond, d
		cfg.Workload.Operations = []loadtest.Operation{
			{Name: "a", Weight: 2, Run: func(ctx context.Context, _ *loadtest.Worker) error { return sleep(ctx, 200*time.Microsecond) }},
			{Name: "b", Weight: 1, Run: func(ctx context.Context, _ *loadtest.Worker) error { return sleep(ctx, 400*time.Microsecond) }},
		}
		r, err := loadtest.New(cfg)
		require.NoError(t, err)
		wg.Go(func() { results[i], _ = r.Run(context.Background()) })
	}
	_, err = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: len(nodes)}, 20*time.Millisecond)
	require.NoError(t, err)
	wg.Wait()
	stopFollow()
	require.NoError(t, <-followed)
	return results, m
}

func TestLiveMergeKeepsEveryStreamedInterval(t *testing.T) {
	mem := new(loadtest.MemoryStream)
	var progress bytes.Buffer
	nodes := []string{"n0", "n1", "n2"}
	results, m := fleetRun(t, "live-1", nodes, 400*time.Millisecond, mem, loadtest.LiveOptions{Progress: &progress, Thresholds: []string{"p99<1h", "a:p50>1h"}})
	var want int64
	for _, r := range results {
		require.NotNil(t, r.Stream)
		assert.Equal(t, r.Stream.Records, r.Stream.Sent, "node %s sent every interval", r.Node)
		assert.EqualValues(t, len(r.Intervals), r.Stream.Records)
		want += r.Phases.Measure.Ops
	}
	require.Positive(t, want)
	for _, n := range nodes {
		ph, ok := m.Phase(n)
		assert.True(t, ok, n)
		assert.Equal(t, timing.Measure, ph, "%s's latest interval was measured", n)
	}
	_, ok := m.Phase("n9")
	assert.False(t, ok, "a node that streamed nothing has no phase")

	// n2 died: its result never came; what it streamed is its result.
	orch := timing.Timeline{Node: "orchestrator", Anchor: results[0].StartedAt,
		Marks: []timing.Mark{{Node: "n2", Phase: timing.CoordLost, Worker: timing.Process, Start: time.Second, End: time.Second}}}
	merged, err := m.Finish(context.Background(), mem, orch, results[:2], []string{"n2"})
	require.NoError(t, err)
	assert.Equal(t, want, merged.Phases.Measure.Ops, "the merged window holds every node's operations")
	b, err := json.Marshal(merged)
	require.NoError(t, err)
	_, err = loadtest.DecodeResult(bytes.NewReader(b))
	require.NoError(t, err, "the merged result reads back, every count checked")
	require.Len(t, merged.Workers, 3)
	lost := merged.Workers[2]
	assert.Equal(t, "n2", lost.Node)
	assert.True(t, lost.Lost)
	require.NotNil(t, lost.LostAt)
	require.NotNil(t, lost.Phases)
	assert.Equal(t, results[2].Phases.Measure.Ops, lost.Phases.Measure.Ops, "every interval it streamed is kept")
	assert.NotEmpty(t, lost.Marks, "its startup, from its first record")
	require.NotNil(t, lost.FirstQuery, "its first query is on the merged axis")
	assert.False(t, merged.Workers[0].Lost)
	assert.Equal(t, results[0].Phases.Measure.Ops, merged.Workers[0].Phases.Measure.Ops)

	// The fleet's intervals: every node in each, in order, adding up.
	var sum int64
	measured := 0
	for i, iv := range merged.Intervals {
		if i > 0 {
			assert.GreaterOrEqual(t, iv.Start, merged.Intervals[i-1].Start, "in order")
		}
		if iv.Phase == timing.Measure {
			sum += iv.Ops
			measured++
			assert.Equal(t, iv.Ops, iv.Operations["a"].Ops+iv.Operations["b"].Ops)
		}
	}
	assert.Equal(t, want, sum, "the fleet's measure intervals add up to the merged window")
	assert.GreaterOrEqual(t, measured, 8, "400ms in 50ms intervals")
	// One progress line per fleet interval, as it completed (on a loaded
	// machine, before every node's record of it came: Finish's hold them).
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	assert.Len(t, lines, len(merged.Intervals), "one progress line per fleet interval")
	for _, l := range lines {
		assert.Regexp(t, `^fleet (warmup|measure) +\S+ +nodes [1-3] running, [0-3] lost +\d+ ops/s  p50 \S+ +p99 \S+ +errors \d+$`, l)
	}
	assert.Len(t, m.Intervals(), len(lines))
	require.Len(t, merged.Thresholds, 2)
	assert.True(t, merged.Thresholds[0].OK)
	assert.False(t, merged.Thresholds[1].OK, "end-only thresholds are checked on the merged result")
	assert.Equal(t, fmt.Sprintf("n2: lost: rebuilt from the %d intervals it streamed", len(results[2].Intervals)), merged.Stopped)
	assert.EqualValues(t, len(results[0].Intervals)+len(results[1].Intervals), merged.Stream.Sent)
}

func TestLiveMergeThresholdAbortsTheFleet(t *testing.T) {
	mem := new(loadtest.MemoryStream)
	results, m := fleetRun(t, "live-2", []string{"n0", "n1"}, time.Minute, mem, loadtest.LiveOptions{
		Thresholds: []string{"p99<1ns"}, AbortOnFail: true, AbortGrace: 100 * time.Millisecond,
	})
	for _, r := range results {
		assert.Contains(t, r.Stopped, "abort: threshold p99<1ns", "every node was aborted")
		assert.Less(t, r.Phases.Measure.Duration, time.Minute)
	}
	stop, ok := m.Stopped()
	require.True(t, ok)
	assert.Equal(t, "p99<1ns", stop.Name)
	merged, err := m.Finish(context.Background(), mem, timing.Timeline{Node: "orchestrator", Anchor: results[0].StartedAt}, results, nil)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(merged.Stopped, "threshold p99<1ns failed "), merged.Stopped)
	marks := merged.Timeline.Find(timing.CoordThreshold)
	require.Len(t, marks, 1)
	assert.Contains(t, marks[0].Detail, "p99<1ns")
	require.Len(t, merged.Thresholds, 1)
	assert.False(t, merged.Thresholds[0].OK)
}

func TestLiveMergeRejects(t *testing.T) {
	_, err := loadtest.NewLiveMerge(loadtest.LiveOptions{RunID: "r", Thresholds: []string{"p42<1s"}})
	assert.ErrorContains(t, err, "LiveOptions.Thresholds[0]")
	_, err = loadtest.NewLiveMerge(loadtest.LiveOptions{})
	assert.ErrorContains(t, err, "LiveOptions.RunID")
	m, err := loadtest.NewLiveMerge(loadtest.LiveOptions{RunID: "r"})
	require.NoError(t, err)
	assert.ErrorContains(t, m.Add([]byte(`{"run_id":"other","node":"n","interval":{"phase":"measure"}}`)), `of run "other"`)
	assert.ErrorContains(t, m.Add([]byte(`{"run_id":"r","node":"n","interval":{"phase":"teardown"}}`)), "interval.phase")
	assert.ErrorContains(t, m.Add([]byte(`{`)), "stream record")
}
