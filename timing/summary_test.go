package timing_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/timing"
)

const ms = time.Millisecond

func span(node string, phase timing.Phase, worker int, start, end time.Duration) timing.Mark {
	return timing.Mark{Node: node, Phase: phase, Worker: worker, Start: start * ms, End: end * ms}
}

// scenario is a merged run of two nodes, a and b, started by an orchestrator.
func scenario() timing.Timeline {
	P := timing.Process
	conn := func(node string, start, end time.Duration, detail, err string) timing.Mark {
		m := span(node, timing.PoolConn, P, start, end)
		m.Detail, m.Err = detail, err
		return m
	}
	return timing.Timeline{
		Anchor: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC),
		Marks: []timing.Mark{
			span("a", timing.PoolInit, P, 0, 300),
			span("b", timing.PoolInit, P, 0, 200),
			span("a", "custom.thing", P, 0, 9000),     // ends after the first query
			span("b", timing.ScaleWarmup, 2, 0, 8000), // worker-level, not a candidate
			conn("a", 10, 110, "conn=0", ""),
			conn("a", 10, 250, "conn=1", ""),
			conn("a", 12, 40, "conn=2", ""),
			conn("b", 20, 190, "conn=0", "timeout"),
			span("a", timing.SetupProfile, P, 300, 7200),
			span("a", timing.CoordRegister, P, 7200, 7250),
			span("a", timing.CoordWait, P, 7250, 8000),
			span("orch", timing.CoordStart, P, 7990, 7990),
			span("b", timing.CoordStart, P, 8100, 8100), // later: not the signal
			span("a", timing.HeartbeatRunning, P, 8000, 8100),
			span("a", timing.ResultsTestStart, P, 8100, 8300),
			span("a", timing.ScaleWarmup, P, 8300, 8310),
			span("a", timing.QueryFirst, 0, 8400, 8450),
			span("a", timing.Warmup, P, 8400, 18400),
			span("a", timing.QueryFirst, 1, 8500, 8520),
			span("b", timing.QueryFirst, 0, 9000, 9010),
			span("b", timing.QueryFirst, 0, 9500, 9510), // not b/0's first
		},
	}
}

func TestSummarize(t *testing.T) {
	tl := scenario()
	s := timing.Summarize(tl)

	require.NotNil(t, s.Signal)
	assert.Equal(t, span("orch", timing.CoordStart, timing.Process, 7990, 7990), *s.Signal)
	assert.Equal(t, 3, s.Workers, "a/0, a/1 and b/0: worker 0 on a and on b are different workers")
	assert.Equal(t, timing.Spread{Min: 410 * ms, Median: 510 * ms, Max: 1010 * ms, N: 3}, s.FirstQuery)
	assert.Equal(t, 600*ms, s.Skew)
	require.NotNil(t, s.Longest)
	assert.Equal(t, span("a", timing.SetupProfile, timing.Process, 300, 7200), *s.Longest)
	assert.Equal(t, timing.Spread{Min: 28 * ms, Median: 135 * ms, Max: 240 * ms, N: 4}, s.PoolConns)

	s.Signal.Start = 0
	assert.Equal(t, 7990*ms, timing.Summarize(tl).Signal.Start, "the summary does not alias the timeline")
	assert.Equal(t, 7990*ms, tl.Marks[11].Start)
}

func TestSummarizeWithoutSignal(t *testing.T) {
	tl := scenario()
	var marks []timing.Mark
	for _, m := range tl.Marks {
		if m.Phase != timing.CoordStart {
			marks = append(marks, m)
		}
	}
	tl.Marks = marks
	s := timing.Summarize(tl)
	assert.Nil(t, s.Signal)
	assert.Equal(t, timing.Spread{}, s.FirstQuery, "no gap without a signal")
	assert.Equal(t, 3, s.Workers)
	assert.Equal(t, 600*ms, s.Skew)
}

func TestSummarizeWithoutFirstQuery(t *testing.T) {
	tl := scenario()
	var marks []timing.Mark
	for _, m := range tl.Marks {
		if m.Phase != timing.QueryFirst {
			marks = append(marks, m)
		}
	}
	tl.Marks = marks
	s := timing.Summarize(tl)
	assert.Zero(t, s.Workers)
	assert.Zero(t, s.Skew)
	assert.Equal(t, timing.Spread{}, s.FirstQuery)
	require.NotNil(t, s.Longest)
	assert.Equal(t, timing.Phase("custom.thing"), s.Longest.Phase, "with no first query every process span counts")
}

func TestSummarizeLongestTieKeepsFirst(t *testing.T) {
	tl := timing.Timeline{Marks: []timing.Mark{
		span("", timing.PoolInit, timing.Process, 0, 100),
		span("", timing.SetupProfile, timing.Process, 100, 200),
		span("", timing.CoordStart, timing.Process, 200, 200),
		span("", timing.Measure, timing.Process, 0, 150), // excluded phase
		span("", timing.QueryFirst, 0, 200, 210),
	}}
	s := timing.Summarize(tl)
	require.NotNil(t, s.Longest)
	assert.Equal(t, timing.PoolInit, s.Longest.Phase)
	assert.Equal(t, timing.Spread{Min: 0, Median: 0, Max: 0, N: 1}, s.FirstQuery)
}

// Side marks and coordination marks follow the registry's kinds: a retry
// or a scale is never the longest span (the phase it happened in is), a
// coordinator's span before the first query may be.
func TestSummarizeLongestByKind(t *testing.T) {
	tl := timing.Timeline{Marks: []timing.Mark{
		span("", timing.PoolInit, timing.Process, 0, 100),
		span("", timing.SetupRetry, timing.Process, 0, 150),
		span("", timing.Scale, timing.Process, 0, 160),
		span("", timing.QueryFirst, 0, 200, 210),
	}}
	s := timing.Summarize(tl)
	require.NotNil(t, s.Longest)
	assert.Equal(t, timing.PoolInit, s.Longest.Phase)

	tl.Marks = append(tl.Marks, span("", timing.CoordUnreachable, timing.Process, 10, 190))
	s = timing.Summarize(tl)
	require.NotNil(t, s.Longest)
	assert.Equal(t, timing.CoordUnreachable, s.Longest.Phase)
}

// SummarizeFrom measures the gaps from the signal it is given, not from
// the earliest coord.start.
func TestSummarizeFrom(t *testing.T) {
	tl := scenario()
	sig := span("b", timing.CoordStart, timing.Process, 8100, 8100)
	s := timing.SummarizeFrom(tl, sig)
	require.NotNil(t, s.Signal)
	assert.Equal(t, sig, *s.Signal)
	assert.Equal(t, timing.Spread{Min: 300 * ms, Median: 400 * ms, Max: 900 * ms, N: 3}, s.FirstQuery)
	assert.Equal(t, timing.Summarize(tl).Skew, s.Skew)
	assert.Equal(t, timing.Summarize(tl).Longest, s.Longest)
}

// A Spread's JSON is the results' contract: min, p50 and max in
// nanoseconds, and no count.
func TestSpreadJSON(t *testing.T) {
	b, err := json.Marshal(timing.Spread{Min: 1, Median: 2, Max: 3, N: 4})
	require.NoError(t, err)
	assert.JSONEq(t, `{"min":1,"p50":2,"max":3}`, string(b))
	var back timing.Spread
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, timing.Spread{Min: 1, Median: 2, Max: 3}, back)
}

func TestSummarizeEmpty(t *testing.T) {
	assert.Equal(t, timing.Summary{}, timing.Summarize(timing.Timeline{}))
}

func TestSpreadString(t *testing.T) {
	s := timing.Spread{Min: 87 * time.Microsecond, Median: 12300 * time.Microsecond, Max: 1204 * ms, N: 3}
	assert.Equal(t, "min 87µs  median 12.3ms  max 1.204s", s.String())
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                          "0s",
		850:                        "850ns",
		87 * time.Microsecond:      "87µs",
		87460:                      "87.5µs",
		12345 * time.Microsecond:   "12.3ms",
		999960 * time.Microsecond:  "1s",
		1204 * ms:                  "1.204s",
		1204567 * time.Microsecond: "1.205s",
		62500 * ms:                 "1m2.5s",
		-12345 * time.Microsecond:  "-12.3ms",
		-500:                       "-500ns",
		time.Duration(-1 << 63):    "-2562047h47m16.854s", // rounding would overflow: truncated,
		time.Duration(1<<63 - 1):   "2562047h47m16.854s",
	} {
		assert.Equal(t, want, timing.FormatDuration(d), "%d", int64(d))
	}
}
