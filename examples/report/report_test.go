package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// writeResult writes a small result as the examples' -json does.
func writeResult(t *testing.T, dir, node string, offset time.Duration) string {
	t.Helper()
	anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(offset)
	res := &loadtest.Result{RunID: "r", Node: node, StartedAt: anchor,
		Timeline: timing.Timeline{Node: node, Anchor: anchor, Marks: []timing.Mark{
			{Phase: timing.PoolInit, Worker: timing.Process, Start: 0, End: 10 * time.Millisecond},
			{Phase: timing.CoordStart, Worker: timing.Process, Start: 20 * time.Millisecond, End: 20 * time.Millisecond},
			{Phase: timing.QueryFirst, Worker: 0, Start: 21 * time.Millisecond, End: 22 * time.Millisecond},
		}},
		Config:    loadtest.RunConfig{Workers: 1, Conns: 1, Duration: time.Second},
		Intervals: []loadtest.Interval{{Start: 21 * time.Millisecond, Duration: time.Second, Phase: timing.Measure, Ops: 10, Throughput: 10}},
	}
	var b bytes.Buffer
	require.NoError(t, loadtest.JSONSink{W: &b, Indent: true}.Write(context.Background(), res))
	path := filepath.Join(dir, node+".json")
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o600))
	return path
}

func TestRenderOneAndMerged(t *testing.T) {
	dir := t.TempDir()
	a := writeResult(t, dir, "a", 0)
	b := writeResult(t, dir, "b", 5*time.Millisecond)
	out := filepath.Join(dir, "out.html")
	csv := filepath.Join(dir, "out.csv")
	var text bytes.Buffer
	require.NoError(t, run([]string{"-in", a, "-html", out, "-text", "-csv", csv}, &text))
	html, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(html), "Run r")
	assert.Equal(t, 2, strings.Count(string(html), `class="wf-bar `))
	assert.Contains(t, text.String(), "query.first")
	c, err := os.ReadFile(csv)
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(string(c), "\n"), "header and one interval")

	// Two processes' results are merged into one report.
	text.Reset()
	require.NoError(t, run([]string{"-in", a, "-in", b, "-html", out}, &text))
	html, err = os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(html), `<section class="result">`))
	assert.Contains(t, string(html), `<svg class="waterfall fleet"`, "one waterfall for both")
	assert.Equal(t, 2, strings.Count(string(html), `<details class="node">`), "and each in its own details")
	assert.Contains(t, string(html), "<summary>a · ")
	assert.Contains(t, string(html), "<summary>b · ")
}

func TestRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte("{\n  \"run_id\": \"r\",\n  \"timeline\": [\n"), 0o600))
	err := run([]string{"-in", bad, "-text"}, &bytes.Buffer{})
	require.ErrorIs(t, err, loadtest.ErrBadResult)
	assert.Contains(t, err.Error(), bad+":4:")
	assert.Error(t, run([]string{"-text"}, &bytes.Buffer{}), "no input")
	assert.Error(t, run([]string{"-in", writeResult(t, dir, "a", 0)}, &bytes.Buffer{}), "no output")
}

// realRun is the merged result of a real run of examples/distributed with
// 8 node processes (see loadtest/report's tests).
const realRun = "../../loadtest/report/testdata/distributed8.json"

// fleetRows counts the top-level waterfall's rows in page: one per phase,
// and the orchestrator's, with their headings.
func fleetRows(t *testing.T, page string) int {
	t.Helper()
	i := strings.Index(page, `<svg class="waterfall fleet"`)
	require.GreaterOrEqual(t, i, 0)
	svg := page[i : i+strings.Index(page[i:], "</svg>")]
	return strings.Count(svg, `class="row-label"`) + strings.Count(svg, `class="row-head"`)
}

// TestMergedResultOfManyNodes is the contract: the HTML report of a merged
// result draws the same top-level waterfall rows for 8 nodes as for 64,
// and each node's own startup inside a <details>.
func TestMergedResultOfManyNodes(t *testing.T) {
	real, err := loadtest.ReadResultFile(realRun)
	require.NoError(t, err)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.html")
	require.NoError(t, run([]string{"-in", realRun, "-html", out}, &bytes.Buffer{}))
	page, err := os.ReadFile(out)
	require.NoError(t, err)
	rows := fleetRows(t, string(page))
	assert.LessOrEqual(t, rows, 2+len(timing.Phases()), "one per phase, and headings")
	assert.Equal(t, 8, strings.Count(string(page), `<details class="node">`))

	// 64 nodes: the real run's 8, each 8 times under another name, merged
	// with the real orchestrator's timeline.
	own := map[string]bool{}
	for _, w := range real.Workers {
		own[w.Node] = true
	}
	orch := timing.Timeline{Node: "orchestrator", Anchor: real.Timeline.Anchor}
	seen := map[string]timing.Mark{} // the orchestrator's coord.seen of each node
	for _, m := range real.Timeline.Marks {
		switch {
		case !own[m.Node]:
			m.Node = ""
			orch.Marks = append(orch.Marks, m)
		case m.Phase == timing.CoordSeen:
			seen[m.Node] = m
		}
	}
	var nodes []*loadtest.Result
	for i := range 64 {
		w := real.Workers[i%8]
		name := w.Node + "-" + strings.Repeat("x", i/8)
		s := seen[w.Node]
		s.Node = name
		orch.Marks = append(orch.Marks, s)
		nodes = append(nodes, &loadtest.Result{RunID: real.RunID, Node: name, StartedAt: w.StartedAt,
			Timeline: timing.Timeline{Node: name, Anchor: w.StartedAt.Add(time.Duration(i) * 100 * time.Microsecond),
				ClockOffset: w.ClockOffset, ClockError: w.ClockError, Marks: w.Marks}})
	}
	merged, err := loadtest.MergeWith(orch, nodes...)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, loadtest.JSONSink{W: &b}.Write(context.Background(), merged))
	in := filepath.Join(dir, "merged64.json")
	require.NoError(t, os.WriteFile(in, b.Bytes(), 0o600))
	require.NoError(t, run([]string{"-in", in, "-html", out}, &bytes.Buffer{}))
	page, err = os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, rows, fleetRows(t, string(page)), "64 nodes: the rows of 8")
	assert.Equal(t, 64, strings.Count(string(page), `<details class="node">`))
	for _, n := range nodes {
		assert.Contains(t, string(page), "<summary>"+n.Node+" · ")
	}
}
