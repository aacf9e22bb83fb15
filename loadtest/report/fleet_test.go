package report_test

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/report"
	"github.com/startline/startline/timing"
)

// fleetSVG is the fleet's waterfall in page.
func fleetSVG(t *testing.T, page string) string {
	t.Helper()
	i := strings.Index(page, `<svg class="waterfall fleet"`)
	require.GreaterOrEqual(t, i, 0, "no fleet waterfall")
	j := strings.Index(page[i:], "</svg>")
	require.Positive(t, j)
	return page[i : i+j]
}

// topRows counts the fleet waterfall's rows: phases and headings.
func topRows(t *testing.T, page string) int {
	svg := fleetSVG(t, page)
	return strings.Count(svg, `class="row-label"`) + strings.Count(svg, `class="row-head"`)
}

// TestFleetRowsDoNotGrow: the fleet waterfall of 8, 100 and 1,000 nodes
// has the same rows, one per phase (and the orchestrator's), and each
// node has its own <details>, the slowest few with a full waterfall.
func TestFleetRowsDoNotGrow(t *testing.T) {
	real := readReal(t)
	page := render(t, real)
	// The orchestrator's 3 phases and the nodes' 13, under 2 headings.
	want := 3 + 13 + 2
	assert.Equal(t, want, topRows(t, page))
	assert.Equal(t, 3+13, strings.Count(fleetSVG(t, page), `class="row-label"`))
	assert.Equal(t, 8, strings.Count(page, `<details class="node">`))
	assert.Equal(t, 8, strings.Count(page, `<svg class="waterfall" `), "8 nodes: all with a full waterfall")
	for _, w := range real.Workers {
		assert.Contains(t, page, "<summary>"+w.Node+" · first query T&#43;")
	}

	for _, n := range []int{100, 1000} {
		res := fleet(t, n)
		require.Len(t, res.Workers, n)
		page := render(t, res)
		assert.Equal(t, want, topRows(t, page), "%d nodes", n)
		assert.Equal(t, n, strings.Count(page, `<details class="node">`), "%d nodes", n)
		assert.Equal(t, 10, strings.Count(page, `<svg class="waterfall" `), "%d nodes: the 10 slowest in full", n)
		assert.Equal(t, n-10, strings.Count(page, `<table class="compact">`), "%d nodes: the others as a table", n)
		for _, w := range res.Workers {
			require.Contains(t, page, "<summary>"+w.Node+" · ", "%d nodes", n)
		}
		assert.Contains(t, page, "Startup across "+strconv.Itoa(n)+" nodes")
	}
}

// TestFleetNamesTheCriticalPathAndTheSlowest: the real run's critical
// path (the merged result's start.longest) is named and outlined on its
// phase's row; each row names its slowest node.
func TestFleetNamesTheCriticalPathAndTheSlowest(t *testing.T) {
	real := readReal(t)
	l := real.Start.Longest
	require.NotNil(t, l)
	page := render(t, real)
	assert.Contains(t, page, "Critical path to the first query: "+string(l.Phase)+" on "+l.Node+": ")
	svg := fleetSVG(t, page)
	assert.Equal(t, 1, strings.Count(svg, ` longest"`), "one outlined span")
	assert.Equal(t, 1, strings.Count(svg, `class="wf-note crit"`))

	// A fleet of three where one node's pool.init is slow.
	ms := time.Millisecond
	node := func(name string, initEnd time.Duration) *loadtest.Result {
		anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		return &loadtest.Result{RunID: "r", Node: name, StartedAt: anchor, Timeline: timing.Timeline{Node: name, Anchor: anchor, Marks: []timing.Mark{
			{Phase: timing.PoolInit, Worker: timing.Process, Start: 0, End: initEnd},
			{Phase: timing.CoordWait, Worker: timing.Process, Start: initEnd, End: 600 * ms},
			{Phase: timing.CoordStart, Worker: timing.Process, Start: 600 * ms, End: 600 * ms},
			{Phase: timing.QueryFirst, Worker: 0, Start: 601 * ms, End: 602 * ms},
		}}}
	}
	merged, err := loadtest.Merge(node("a", 10*ms), node("slow-<b>", 500*ms), node("c", 20*ms))
	require.NoError(t, err)
	page = render(t, merged)
	svg = fleetSVG(t, page)
	assert.Contains(t, svg, ">max 500ms on slow-&lt;b&gt;</text>", "the slowest is named, escaped")
	assert.Contains(t, svg, `class="wf-note crit" x="842.0" y="66.0">max 590ms on a, critical</text>`, "coord.wait: the longest wait, the longest span before the first query")
	assert.Contains(t, svg, "pool.init on 3 of 3 nodes: 0s to 500ms; per node min 10ms, median 20ms (c), max 500ms (slow-&lt;b&gt;)")
	assert.Contains(t, svg, "pool.init, median node c: 20ms, 0s to 20ms")
}

// TestFleetStartAgainstTheClocks: the start across the fleet says whether
// the spread of the first queries is beyond the clocks' uncertainty.
func TestFleetStartAgainstTheClocks(t *testing.T) {
	real := readReal(t)
	page := render(t, real)
	assert.Contains(t, page, "First queries of 8 nodes from T&#43;148.2µs (w06) to T&#43;4.1ms (w00): 3.9ms apart")
	assert.Contains(t, page, "The spread is beyond the clocks&#39; uncertainty: at least 1.9ms of its 3.9ms is real")
	assert.Equal(t, 8, strings.Count(page, `class="st-dot"`))
	assert.Contains(t, page, `<svg class="startchart"`)

	// Bounds of 5ms: the same spread is within them.
	for i := range real.Workers {
		real.Workers[i].ClockError = 5 * time.Millisecond
	}
	page = render(t, real)
	assert.Contains(t, page, "The spread of 3.9ms is within the clocks&#39; uncertainty")

	// 1,000 nodes: a curve, no dots.
	page = render(t, fleet(t, 1000))
	assert.Zero(t, strings.Count(page, `class="st-dot"`))
	assert.Regexp(t, regexp.MustCompile(`First queries of 1000 nodes from T[^ ]* \([^)]+\) to T[^ ]* \([^)]+\)`), page)
}

// TestWriteFleetHTML: the fleet view alone, as a fragment for a page that
// embeds it (the live page), is the report's own.
func TestWriteFleetHTML(t *testing.T) {
	real := readReal(t)
	var b bytes.Buffer
	require.NoError(t, report.WriteFleetHTML(&b, real))
	frag := b.String()
	assert.True(t, strings.HasPrefix(frag, "<style>"))
	assert.NotContains(t, frag, "<html")
	assert.NotContains(t, frag, "<script")
	assert.Contains(t, render(t, real), fleetSVG(t, frag), "the same waterfall as the report's")
	assert.Equal(t, 8, strings.Count(frag, `<details class="node">`))

	// A result still forming: no start yet, no first queries.
	partial := &loadtest.Result{RunID: real.RunID, Workers: real.Workers}
	for _, m := range real.Timeline.Marks {
		if m.Phase.Kind() == timing.KindStartup {
			partial.Timeline.Marks = append(partial.Timeline.Marks, m)
		}
	}
	b.Reset()
	require.NoError(t, report.WriteFleetHTML(&b, partial))
	assert.Contains(t, b.String(), "Startup across 8 nodes")
	assert.Contains(t, b.String(), "no first query")

	// Not a merged result: nothing.
	b.Reset()
	require.NoError(t, report.WriteFleetHTML(&b, synth(t, 2, 5)))
	assert.Zero(t, b.Len())
	assert.Error(t, report.WriteFleetHTML(&b, nil))
}

// BenchmarkWriteHTMLFleet renders the report of merged results of 8 (a
// real run's), 100 and 1,000 nodes (made from it), and reports the page's
// size.
func BenchmarkWriteHTMLFleet(b *testing.B) {
	for _, n := range []int{8, 100, 1000} {
		res := readReal(b)
		if n != 8 {
			res = fleet(b, n)
		}
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchWriteHTML(b, res) })
	}
}

// TestFleetErrorsAndANodeWithoutAFirstQuery: a phase with errors says so on
// its row; a node that never ran a first query comes first among the
// details and is named in the start.
func TestFleetErrorsAndANodeWithoutAFirstQuery(t *testing.T) {
	ms := time.Millisecond
	anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	node := func(name string, marks ...timing.Mark) *loadtest.Result {
		return &loadtest.Result{RunID: "r", Node: name, StartedAt: anchor, Timeline: timing.Timeline{Node: name, Anchor: anchor, Marks: marks}}
	}
	ok := func(name string, first time.Duration) *loadtest.Result {
		return node(name,
			timing.Mark{Phase: timing.PoolInit, Worker: timing.Process, Start: 0, End: 10 * ms},
			timing.Mark{Phase: timing.CoordStart, Worker: timing.Process, Start: 50 * ms, End: 50 * ms},
			timing.Mark{Phase: timing.QueryFirst, Worker: 0, Start: first, End: first + ms})
	}
	broken := node("broken",
		timing.Mark{Phase: timing.PoolInit, Worker: timing.Process, Start: 0, End: 30 * ms, Err: "dial tcp: connection refused"})
	merged, err := loadtest.Merge(ok("a", 51*ms), broken, ok("b", 53*ms))
	require.NoError(t, err)
	page := render(t, merged)
	svg := fleetSVG(t, page)
	assert.Contains(t, svg, `class="wf-bar ph-pool err fl-range"`)
	assert.Contains(t, svg, ">max 30ms on broken · 1 err, critical</text>", "the longest span before the first query, too")
	assert.Contains(t, svg, "1 errors, first: dial tcp: connection refused")
	assert.Contains(t, svg, ">2/3 · max 1ms on b</text>", "query.first on 2 of the 3")
	assert.Contains(t, page, "1 node ran no first query: broken.")

	first := strings.Index(page, `<details class="node"><summary>broken · no first query`)
	assert.Positive(t, first)
	assert.Less(t, first, strings.Index(page, "<summary>b · first query T&#43;3ms"))
	assert.Less(t, strings.Index(page, "<summary>b · "), strings.Index(page, "<summary>a · "), "the later first query first")
}

// TestWaterfallBarsStayInTheirRows: every bar lies inside its row, even
// where 100 connections share pool.conn's row in lanes.
func TestWaterfallBarsStayInTheirRows(t *testing.T) {
	bar := regexp.MustCompile(`<rect class="wf-bar [^"]*" x="[^"]*" y="([^"]*)" width="[^"]*" height="([^"]*)"`)
	for _, page := range []string{render(t, synth(t, 100, 10)), render(t, fleet(t, 100))} {
		bars := bar.FindAllStringSubmatch(page, -1)
		require.NotEmpty(t, bars)
		for _, m := range bars {
			y, err := strconv.ParseFloat(m[1], 64)
			require.NoError(t, err)
			h, err := strconv.ParseFloat(m[2], 64)
			require.NoError(t, err)
			top := 22 + 16*float64(int((y-22)/16)) // rows are 16 high below a 22-high axis
			assert.GreaterOrEqual(t, y, top+2-0.05, m[0])
			assert.LessOrEqual(t, y+h, top+14+0.05, m[0])
		}
	}
}

// TestFleetMarksOfNodesWithoutAResult: the orchestrator's marks about
// nodes that left no result (lost before they wrote one) share its rows.
func TestFleetMarksOfNodesWithoutAResult(t *testing.T) {
	real := readReal(t)
	rows := topRows(t, render(t, real))
	for i := range 50 {
		at := real.Start.At + time.Duration(i)*time.Millisecond
		real.Timeline.Marks = append(real.Timeline.Marks, timing.Mark{Phase: timing.CoordLost, Worker: timing.Process,
			Start: at, End: at, Node: "gone-" + strconv.Itoa(i)})
	}
	page := render(t, real)
	assert.Equal(t, rows+1, topRows(t, page), "one more row: coord.lost")
	assert.Equal(t, 50, strings.Count(fleetSVG(t, page), "<title>coord.lost on gone-"))
}
