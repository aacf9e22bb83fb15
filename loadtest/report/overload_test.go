package report_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/report"
)

// overloaded makes synth's run an arrival-rate run offered twice what it
// achieved, its backlog growing by 100 operations a second.
func overloaded(t *testing.T) *loadtest.Result {
	res := synth(t, 4, 10)
	res.Config.Arrival, res.Config.Rate = "constant", 2000
	var backlog int64
	for i := range res.Intervals {
		iv := &res.Intervals[i]
		l := &loadtest.Load{Offered: 2000, OfferedPerS: 2 * iv.Throughput, BacklogStart: backlog, BacklogEnd: backlog + 100,
			AchievedRatio: 0.5, Overloaded: true}
		backlog += 100
		iv.Load = l
	}
	m := &res.Phases.Measure
	m.Schedule = &loadtest.Schedule{Load: loadtest.Load{Offered: 2 * m.Ops, OfferedPerS: 2 * m.Throughput,
		BacklogStart: 100, BacklogEnd: backlog, AchievedRatio: 0.5, Overloaded: true}, CompletedAfter: m.Ops / 2}
	return res
}

func TestWriteHTMLSaysOverloaded(t *testing.T) {
	html := render(t, overloaded(t))
	assert.Contains(t, html, "Offered and achieved throughput")
	assert.Contains(t, html, "Backlog (operations scheduled, not yet begun")
	assert.Equal(t, 1, strings.Count(html, `class="series s-offered"`), "offered beside achieved on one chart")
	assert.Equal(t, 1, strings.Count(html, `class="series s-backlog"`))
	assert.Contains(t, html, "The measured window is overloaded: the system achieved")
	assert.Contains(t, html, "its backlog grew from 100 to")
	assert.Positive(t, strings.Count(html, `class="d-over"`), "overloaded intervals are marked")

	closed := render(t, synth(t, 4, 10))
	for _, s := range []string{"Backlog (", `class="series s-offered"`, "is overloaded"} {
		assert.False(t, strings.Contains(closed, s), "a closed-loop run has no %q", s)
	}
}

func capacity() *loadtest.Capacity {
	step := func(kind string, rate, achieved float64, p99 time.Duration, pass bool) loadtest.CapacityStep {
		s := loadtest.CapacityStep{Kind: kind, Rate: rate, OfferedPerS: rate, ThroughputPerS: achieved, AchievedRatio: achieved / rate,
			Latency: loadtest.Latency{P50: p99 / 2, P99: p99}, Pass: pass}
		if !pass {
			s.Failed = []string{"p99<50ms"}
		}
		return s
	}
	return &loadtest.Capacity{
		MaxRate: 360, Knee: 3, FirstFail: 400, Ended: "converged", Elapsed: 40 * time.Second,
		Conditions: []string{"p99<50ms", "achieved_ratio>=0.99"},
		Steps: []loadtest.CapacityStep{
			step("coarse", 80, 80, 11*time.Millisecond, true),
			step("coarse", 160, 160, 11*time.Millisecond, true),
			step("coarse", 320, 320, 13*time.Millisecond, true),
			step("bisect", 360, 359, 20*time.Millisecond, true),
			step("coarse", 640, 385, 900*time.Millisecond, false),
			step("bisect", 480, 384, 600*time.Millisecond, false),
			step("bisect", 400, 386, 90*time.Millisecond, false),
		},
	}
}

func TestWriteCapacityHTML(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, report.WriteCapacityHTML(&b, capacity()))
	html := b.String()
	assert.Contains(t, html, "Capacity: 360.0/s, the highest rate that passed; 400.0/s failed.")
	assert.Equal(t, 2, strings.Count(html, `class="vmark"`), "the knee on both charts")
	assert.Equal(t, 2, strings.Count(html, "capacity 360.0/s</text>"))
	assert.Equal(t, 2*4, strings.Count(html, `class="d-pass"`), "each step a dot on both charts")
	assert.Equal(t, 2*3, strings.Count(html, `class="d-fail"`))
	assert.Equal(t, 1, strings.Count(html, `class="series s-ideal"`), "the line where achieved equals offered")
	assert.Equal(t, 7, strings.Count(html, "<tr><td>"), "one row per step")
	assert.Contains(t, html, "FAIL: p99&lt;50ms")
	for _, s := range []string{"http:", "https:", "<script", "src=", "url("} {
		assert.NotContains(t, html, s)
	}

	none := &loadtest.Capacity{Knee: -1, FirstFail: 80, Steps: capacity().Steps[4:5]}
	b.Reset()
	require.NoError(t, report.WriteCapacityHTML(&b, none))
	assert.Contains(t, b.String(), "No rate passed")
	assert.NotContains(t, b.String(), `class="vmark"`)
	require.Error(t, report.WriteCapacityHTML(&b, nil))
}

func TestIntervalsCSVHasTheLoad(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, report.WriteIntervalsCSV(&b, overloaded(t)))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	assert.True(t, strings.HasSuffix(lines[0], ",offered_per_s,backlog_start,backlog_end,overloaded"), lines[0])
	assert.True(t, strings.HasSuffix(lines[1], ",0,100,true"), "the first interval's load: %s", lines[1])

	b.Reset()
	require.NoError(t, report.WriteIntervalsCSV(&b, synth(t, 4, 10)))
	lines = strings.Split(strings.TrimSpace(b.String()), "\n")
	assert.True(t, strings.HasSuffix(lines[1], ",,,,"), "a closed loop leaves them empty: %s", lines[1])
}
