package loadtest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/timing"
)

// statsOf records latencies into a tally and returns its Stats over window.
func statsOf(window time.Duration, errs int, lat ...time.Duration) Stats {
	var t tally
	for _, d := range lat {
		t.record(d, nil, 0)
	}
	for range errs {
		t.record(time.Millisecond, errors.New("boom"), pool.KindOther)
	}
	return t.stats(window)
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// process builds one process's result: its anchor is base+shift on its own
// clock, which runs offset ahead of the reference; T is at tOff and its
// first queries at the given offsets.
func process(node string, base time.Time, shift, offset, tOff time.Duration, firsts ...time.Duration) *Result {
	marks := []timing.Mark{
		{Phase: timing.CoordWait, Worker: timing.Process, Start: 0, End: tOff},
		{Phase: timing.CoordStart, Worker: timing.Process, Start: tOff, End: tOff},
	}
	for i, f := range firsts {
		marks = append(marks, timing.Mark{Phase: timing.QueryFirst, Worker: i, Start: f, End: f + time.Millisecond})
	}
	anchor := base.Add(shift + offset)
	return &Result{
		RunID: "run-1", Node: node, StartedAt: anchor,
		Timeline: timing.Timeline{Node: node, Anchor: anchor, ClockOffset: offset, ClockError: 50 * time.Microsecond, Marks: marks},
		Config:   RunConfig{Workers: len(firsts), Conns: len(firsts), Duration: time.Second, Operations: []OpConfig{{Name: "q", Weight: 1}}},
	}
}

func TestMergeStatisticsExactly(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := process("a", base, 0, 0, 10*time.Millisecond, 10*time.Millisecond)
	b := process("b", base, 0, 0, 10*time.Millisecond, 10*time.Millisecond)
	// a: 1000 fast operations; b: 10 slow ones and 2 errors. Averaging the
	// processes' medians would say 50ms; the merged histogram says 1ms.
	a.Phases.Measure = statsOf(time.Second, 0, repeat(time.Millisecond, 1000)...)
	b.Phases.Measure = statsOf(2*time.Second, 2, repeat(100*time.Millisecond, 10)...)
	a.Operations = map[string]Stats{"q": a.Phases.Measure}
	b.Operations = map[string]Stats{"q": b.Phases.Measure}
	aHist := a.Phases.Measure.Histogram.Count()

	m, err := Merge(a, b)
	require.NoError(t, err)
	s := m.Phases.Measure
	assert.EqualValues(t, 1012, s.Ops)
	assert.EqualValues(t, 2, s.Errors)
	assert.Equal(t, map[string]int64{"other": 2}, s.ErrorsByKind)
	assert.Equal(t, 2*time.Second, s.Duration)
	assert.InDelta(t, 1010.0/2, s.Throughput, 1e-9)
	assert.InDelta(t, float64(time.Millisecond), float64(s.Latency.P50), float64(time.Millisecond)/100)
	assert.InDelta(t, float64(100*time.Millisecond), float64(s.Latency.P999), float64(100*time.Millisecond)/100)
	assert.Equal(t, b.Phases.Measure.Latency.Max, s.Latency.Max, "the max of the maxes")
	assert.EqualValues(t, 1010, s.Histogram.Count())
	assert.Equal(t, s.Ops, m.Operations["q"].Ops)
	assert.Equal(t, aHist, a.Phases.Measure.Histogram.Count(), "inputs untouched")
	assert.Equal(t, 2, m.Config.Workers)
	assert.Equal(t, "merged", m.Node)
}

func TestMergeArrivalCountsAndWarmupEnd(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := process("a", base, 0, 0, 0, 0)
	b := process("b", base, 0, 0, 0, 0)
	a.Phases.Measure.Late, a.Phases.Measure.Dropped = 3, 1
	b.Phases.Measure.Late, b.Phases.Measure.Dropped = 4, 0
	a.Phases.Warmup.EndedBy, b.Phases.Warmup.EndedBy = EndedBySteady, EndedBySteady
	a.Phases.Warmup.Examined, b.Phases.Warmup.Examined = 3, 5
	m, err := Merge(a, b)
	require.NoError(t, err)
	assert.EqualValues(t, 7, m.Phases.Measure.Late)
	assert.EqualValues(t, 1, m.Phases.Measure.Dropped)
	assert.Equal(t, EndedBySteady, m.Phases.Warmup.EndedBy)
	assert.Equal(t, 5, m.Phases.Warmup.Examined)

	b.Phases.Warmup.EndedBy = EndedByMax
	m, err = Merge(a, b)
	require.NoError(t, err)
	assert.Empty(t, m.Phases.Warmup.EndedBy, "processes that disagree give no single reason")
}

func TestMergeStartReport(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The orchestrator publishes at 5ms and T is 20ms, on the reference axis.
	orch := timing.Timeline{Node: "orchestrator", Anchor: base, Marks: []timing.Mark{
		{Phase: timing.CoordPublish, Worker: timing.Process, Start: 5 * time.Millisecond, End: 6 * time.Millisecond, Detail: "coordinator=sql"},
		{Phase: timing.CoordStart, Worker: timing.Process, Start: 20 * time.Millisecond, End: 20 * time.Millisecond},
		{Phase: timing.CoordSeen, Worker: timing.Process, Start: 7 * time.Millisecond, End: 7 * time.Millisecond, Node: "a"},
		{Phase: timing.CoordSeen, Worker: timing.Process, Start: 9 * time.Millisecond, End: 9 * time.Millisecond, Node: "b"},
	}}
	// a's clock runs 3s ahead and it started 2ms after the orchestrator;
	// b's runs 1s behind and it started 4ms after. Their marks are on their
	// own axes: T is at 18ms for a and 16ms for b.
	a := process("a", base, 2*time.Millisecond, 3*time.Second, 18*time.Millisecond,
		18*time.Millisecond+100*time.Microsecond, 18*time.Millisecond+300*time.Microsecond)
	b := process("b", base, 4*time.Millisecond, -time.Second, 16*time.Millisecond,
		16*time.Millisecond+1200*time.Microsecond, 16*time.Millisecond+500*time.Microsecond)

	m, err := MergeWith(orch, a, b)
	require.NoError(t, err)
	assert.Equal(t, base, m.StartedAt, "the merged axis starts at the earliest corrected anchor")
	require.NotNil(t, m.Start)
	st := m.Start
	require.NotNil(t, st.Published)
	assert.Equal(t, 5*time.Millisecond, *st.Published)
	assert.Equal(t, 20*time.Millisecond, st.At)
	assert.Equal(t, 4, st.Workers)
	assert.Equal(t, "sql", st.Coordinator, "the backend the orchestrator's publish mark names")
	assert.Equal(t, timing.Spread{Min: 100 * time.Microsecond, Median: 400 * time.Microsecond, Max: 1200 * time.Microsecond, N: 4}, st.SignalToFirstQuery)
	assert.Equal(t, 1100*time.Microsecond, st.Skew)
	require.NotNil(t, st.Longest)
	assert.Equal(t, timing.CoordWait, st.Longest.Phase)

	require.Len(t, m.Workers, 2)
	wa, wb := m.Workers[0], m.Workers[1]
	assert.Equal(t, "a", wa.Node)
	assert.Equal(t, 3*time.Second, wa.ClockOffset)
	assert.Equal(t, a.Timeline.Marks, wa.Marks, "each worker keeps its own timeline")
	assert.Equal(t, 7*time.Millisecond, *wa.Saw)
	assert.Equal(t, 20*time.Millisecond+100*time.Microsecond, *wa.FirstQuery)
	assert.Equal(t, 9*time.Millisecond, *wb.Saw)
	assert.Equal(t, 20*time.Millisecond+500*time.Microsecond, *wb.FirstQuery)
}

// TestMergedJSONContract checks the field names tools read.
func TestMergedJSONContract(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	orch := timing.Timeline{Node: "orchestrator", Anchor: base, Marks: []timing.Mark{
		{Phase: timing.CoordPublish, Worker: timing.Process, Start: time.Millisecond, End: time.Millisecond, Detail: "coordinator=nats"},
		{Phase: timing.CoordStart, Worker: timing.Process, Start: 2 * time.Millisecond, End: 2 * time.Millisecond},
	}}
	a := process("a", base, 0, 7*time.Microsecond, 2*time.Millisecond, 3*time.Millisecond)
	m, err := MergeWith(orch, a)
	require.NoError(t, err)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	var doc struct {
		Timeline []json.RawMessage `json:"timeline"`
		Workers  []struct {
			Node        string            `json:"node"`
			ClockOffset *int64            `json:"clock_offset_ns"`
			Timeline    []json.RawMessage `json:"timeline"`
		} `json:"workers"`
		Start struct {
			Published *int64 `json:"published_ns"`
			At        *int64 `json:"at_ns"`
			Skew      *int64 `json:"skew_ns"`
			Gap       struct {
				Min, P50, Max *int64
			} `json:"signal_to_first_query_ns"`
			Coordinator string `json:"coordinator"`
		} `json:"start"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	require.Len(t, doc.Workers, 1)
	assert.Equal(t, "a", doc.Workers[0].Node)
	assert.EqualValues(t, 7000, *doc.Workers[0].ClockOffset)
	assert.Len(t, doc.Workers[0].Timeline, 3)
	assert.Len(t, doc.Timeline, 5)
	assert.EqualValues(t, time.Millisecond, *doc.Start.Published)
	assert.EqualValues(t, 2*time.Millisecond, *doc.Start.At)
	assert.EqualValues(t, 0, *doc.Start.Skew)
	assert.EqualValues(t, time.Millisecond, *doc.Start.Gap.Min)
	assert.EqualValues(t, time.Millisecond, *doc.Start.Gap.P50)
	assert.EqualValues(t, time.Millisecond, *doc.Start.Gap.Max)
	assert.Equal(t, "nats", doc.Start.Coordinator)

	var back Result
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, m.Start, back.Start)
	assert.Len(t, back.Workers, 1)
}

func TestMergeErrors(t *testing.T) {
	_, err := Merge()
	require.ErrorIs(t, err, ErrMerge)
	_, err = Merge(&Result{RunID: "x"}, nil)
	require.ErrorIs(t, err, ErrMerge)
	assert.ErrorContains(t, err, "results[1]")
	_, err = Merge(&Result{RunID: "x"}, &Result{RunID: "y"})
	require.ErrorIs(t, err, ErrMerge)
	assert.ErrorContains(t, err, `"y"`)
	m, err := Merge(&Result{RunID: "x", Node: "a"})
	require.NoError(t, err)
	assert.Nil(t, m.Start, "no start instant, no start report")
}
