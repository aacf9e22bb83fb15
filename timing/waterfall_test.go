package timing_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/timing"
)

// waterfall renders tl and returns its lines.
func waterfall(t *testing.T, tl timing.Timeline) []string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, timing.WriteWaterfall(&b, tl))
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// rowOf returns the waterfall row of phase, failing when there is none.
func rowOf(t *testing.T, lines []string, phase timing.Phase) []string {
	t.Helper()
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && f[0] == string(phase) {
			return f
		}
	}
	require.Failf(t, "no row", "phase %s in\n%s", phase, strings.Join(lines, "\n"))
	return nil
}

func TestWaterfallRows(t *testing.T) {
	tl := scenario()
	// Two unknown phases, zeta seen before alpha.
	tl.Marks = append(tl.Marks,
		span("a", "zeta", timing.Process, 100, 200),
		span("a", "alpha", timing.Process, 50, 60))
	lines := waterfall(t, tl)

	var order []string
	var last time.Duration
	for _, l := range lines[2:] { // anchor and header lines first
		if l == "" {
			break
		}
		f := strings.Fields(l)
		order = append(order, f[0])
		start, err := time.ParseDuration(f[1])
		require.NoError(t, err, l)
		assert.GreaterOrEqual(t, start, last, "rows in the order their phases began: %s", l)
		last = start
	}
	assert.ElementsMatch(t, []string{
		"pool.init", "pool.conn", "setup.profile", "coord.register", "coord.wait",
		"coord.start", "heartbeat.running", "results.test_start", "scale.warmup",
		"query.first", "warmup", "custom.thing", "zeta", "alpha",
	}, order, "one row per phase")

	// Aggregated over nodes and workers: earliest start, latest end, count.
	assert.Equal(t, []string{"query.first", "8.4s", "9.51s", "1.11s", "x4"}, rowOf(t, lines, timing.QueryFirst)[:5])
	assert.Equal(t, []string{"coord.start", "7.99s", "8.1s", "110ms", "x2"}, rowOf(t, lines, timing.CoordStart)[:5])
	sp := rowOf(t, lines, timing.SetupProfile)
	assert.Equal(t, []string{"setup.profile", "300ms", "7.2s", "6.9s"}, sp[:4])
	assert.NotContains(t, sp[4], "x", "a single mark shows no count")

	// Errors are flagged on their row only.
	conn := strings.Join(rowOf(t, lines, timing.PoolConn), " ")
	assert.Contains(t, conn, "! timeout")
	assert.NotContains(t, strings.Join(rowOf(t, lines, timing.PoolInit), " "), "!")

	assert.Contains(t, lines, "longest before first query: setup.profile 6.9s (node a)")
	assert.Contains(t, lines, "start signal -> first query: min 410ms  median 510ms  max 1.01s (3 workers)")
	assert.Contains(t, lines, "start skew: 600ms")
	assert.Contains(t, lines, "pool.conn open latency: min 28ms  median 135ms  max 240ms (4 conns)")
}

func TestWaterfallBars(t *testing.T) {
	// The axis runs from 0 to 100ms: 2ms a column over 50 columns.
	tl := timing.Timeline{Marks: []timing.Mark{
		span("", timing.PoolInit, timing.Process, 0, 100),
		span("", timing.CoordStart, timing.Process, 50, 50),
		span("", timing.QueryFirst, 0, 10, 20),
		span("", timing.QueryFirst, 1, 60, 62),
		{Phase: timing.Teardown, Worker: timing.Process, Start: 100 * ms, End: 100 * ms, Err: "flush: closed"},
	}}
	lines := waterfall(t, tl)
	assert.Equal(t, strings.Repeat("#", 50), rowOf(t, lines, timing.PoolInit)[4])
	assert.Equal(t, strings.Repeat(".", 25)+"|"+strings.Repeat(".", 24), rowOf(t, lines, timing.CoordStart)[4])
	assert.Equal(t, strings.Repeat(".", 5)+"#####"+strings.Repeat(".", 20)+"#"+strings.Repeat(".", 19),
		rowOf(t, lines, timing.QueryFirst)[5], "each mark drawn, gaps between them kept")
	td := rowOf(t, lines, timing.Teardown)
	assert.Equal(t, strings.Repeat(".", 49)+"|", td[4], "an instant at the very end stays on the bar")
	assert.Equal(t, []string{"!", "flush:", "closed"}, td[5:])

	assert.Contains(t, lines, "longest before first query: none", "pool.init ends after the earliest first query starts")
	assert.Contains(t, lines, "start signal -> first query: min -40ms  median -15ms  max 10ms (2 workers)",
		"a query before the signal shows as a negative gap")
	assert.Contains(t, lines, "pool.conn open latency: no pool.conn marks")
}

func TestWaterfallSummaryLinesWhenMissing(t *testing.T) {
	lines := waterfall(t, timing.Timeline{Marks: []timing.Mark{
		span("", timing.QueryFirst, 0, 5, 6),
	}})
	assert.Contains(t, lines, "start signal -> first query: no coord.start mark (1 workers)")
	assert.Contains(t, lines, "start skew: 0s")
	assert.Contains(t, lines, "longest before first query: none")

	lines = waterfall(t, timing.Timeline{Marks: []timing.Mark{span("", timing.PoolInit, timing.Process, 0, 1)}})
	assert.Contains(t, lines, "start signal -> first query: no query.first marks")
	assert.NotContains(t, strings.Join(lines, "\n"), "start skew")
}

func TestWaterfallHeader(t *testing.T) {
	lines := waterfall(t, timing.Timeline{
		Node:        "n1",
		Anchor:      time.Date(2025, 1, 1, 12, 0, 0, 5, time.FixedZone("X", 3600)),
		ClockOffset: -3 * ms, ClockError: 250 * time.Microsecond,
	})
	assert.Equal(t, []string{
		"anchor 2025-01-01T11:00:00.000000005Z  node n1  clock offset -3ms ± 250µs",
		"no marks",
	}, lines)
}

func TestWaterfallIsDeterministic(t *testing.T) {
	var a, b strings.Builder
	require.NoError(t, timing.WriteWaterfall(&a, scenario()))
	require.NoError(t, timing.WriteWaterfall(&b, scenario()))
	assert.Equal(t, a.String(), b.String())
}

type failingWriter struct{}

var errWrite = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestWaterfallWriteError(t *testing.T) {
	assert.ErrorIs(t, timing.WriteWaterfall(failingWriter{}, scenario()), errWrite)
}
