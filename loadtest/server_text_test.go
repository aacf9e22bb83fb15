package loadtest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// splitResult is a result with the server's split of one operation.
func splitResult() *loadtest.Result {
	d := func(n int64, p50, p99, sum time.Duration) loadtest.ServerDist {
		return loadtest.ServerDist{N: n, P50: p50, P99: p99, Sum: sum}
	}
	ms := time.Millisecond
	sp := &loadtest.ServerSplit{
		Queries: 10, Matched: 10, CacheHits: 4,
		QueuedOverload: d(10, 20*ms, 40*ms, 200*ms), Compilation: d(10, ms, 2*ms, 10*ms),
		Execution: d(10, 5*ms, 9*ms, 50*ms), Elapsed: d(10, 27*ms, 50*ms, 270*ms), Client: d(10, 3*ms, 4*ms, 30*ms),
	}
	return &loadtest.Result{
		RunID: "r", Node: "n",
		Phases:     loadtest.Phases{Measure: loadtest.Stats{Ops: 10, Server: sp}},
		Operations: map[string]loadtest.Stats{"point": {Ops: 10, Server: sp}},
	}
}

// The text report shows the split per operation, its shares of the mean
// latency, and the cache's hits.
func TestWriteTextShowsTheServerSplit(t *testing.T) {
	var b strings.Builder
	require.NoError(t, splitResult().WriteText(&b))
	out := b.String()
	assert.Contains(t, out, "the server's split of each statement")
	assert.Regexp(t, `point\s+10\s+10\s+4\s+-\s+20ms / 40ms\s+1ms / 2ms\s+5ms / 9ms\s+3ms / 4ms`, out)
	assert.Contains(t, out, "point: mean 30ms = queued (provisioning) 0%, queued (overload) 67%, compilation 3%, execution 17%, other server time 3%, client 10%")
	assert.Contains(t, out, "4 of 10 statements were answered from the server's result cache")
	assert.NotContains(t, out, "sampled:")
}

// A read that failed is named, with its error, instead of a split.
func TestWriteTextNamesAFailedHistoryRead(t *testing.T) {
	r := &loadtest.Result{RunID: "r", Node: "n", Operations: map[string]loadtest.Stats{}}
	r.Timeline.Marks = []timing.Mark{{Phase: timing.ServerHistory, Worker: timing.Process, Err: "insufficient privileges"}}
	var b strings.Builder
	require.NoError(t, r.WriteText(&b))
	assert.Contains(t, b.String(), "server's split: the history was not read: insufficient privileges")
}
