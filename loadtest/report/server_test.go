package report_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/report"
)

// The report draws the server's split as a stacked bar per operation,
// one segment per part, and says when the cache answered.
func TestHTMLShowsTheServerSplit(t *testing.T) {
	ms := time.Millisecond
	d := func(sum time.Duration) loadtest.ServerDist {
		return loadtest.ServerDist{N: 10, P50: sum / 10, P99: sum / 5, Sum: sum}
	}
	sp := &loadtest.ServerSplit{Queries: 10, Matched: 10, CacheHits: 3, QueuedOverload: d(200 * ms), Compilation: d(10 * ms),
		Execution: d(50 * ms), Elapsed: d(270 * ms), Client: d(30 * ms)}
	res := &loadtest.Result{
		RunID: "r", Node: "n",
		Phases:     loadtest.Phases{Measure: loadtest.Stats{Ops: 20, Server: sp}},
		Operations: map[string]loadtest.Stats{"<point>": {Ops: 10, Server: sp}, "range": {Ops: 10, Server: sp}},
	}
	var b strings.Builder
	require.NoError(t, report.WriteHTML(&b, res))
	html := b.String()
	assert.Contains(t, html, "<h2>The server's split of each statement</h2>")
	assert.Equal(t, 2*6, strings.Count(html, `height="20" fill=`), "six segments for each of two operations")
	assert.Contains(t, html, "&lt;point&gt;: queued (overload): mean 20ms (67%)", "labels are escaped")
	assert.Contains(t, html, "3 of 10 statements were answered from the server&#39;s result cache")
	assert.Equal(t, 2, strings.Count(html, ">mean 30ms<"))

	// Without a split, no section.
	res.Phases.Measure.Server = nil
	b.Reset()
	require.NoError(t, report.WriteHTML(&b, res))
	assert.NotContains(t, b.String(), "The server's split")
}
