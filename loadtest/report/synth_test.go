package report_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// histogram returns a loadtest.Histogram of n latencies around median.
func histogram(tb testing.TB, r *rand.Rand, n int, median time.Duration) *loadtest.Histogram {
	tb.Helper()
	h := hdrhistogram.New(1, int64(time.Hour), 3)
	for range n {
		v := int64(float64(median) * r.ExpFloat64())
		if err := h.RecordValue(max(v, 1)); err != nil {
			tb.Fatal(err)
		}
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := json.Marshal(string(enc))
	out := new(loadtest.Histogram)
	if err := out.UnmarshalJSON(b); err != nil {
		tb.Fatal(err)
	}
	return out
}

func stats(tb testing.TB, r *rand.Rand, n int, window time.Duration) loadtest.Stats {
	h := histogram(tb, r, n, 2*time.Millisecond)
	return loadtest.Stats{
		Ops: int64(n), Duration: window, Throughput: float64(n) / window.Seconds(),
		Latency: loadtest.Latency{
			Min: h.Quantile(0), P50: h.Quantile(50), P90: h.Quantile(90), P99: h.Quantile(99),
			P999: h.Quantile(99.9), Max: h.Quantile(100),
		},
		Histogram: h,
	}
}

// synth makes the result of a run of workers workers that warms up for a
// tenth of its length and measures for seconds seconds, with the startup
// marks a Runner records and one interval per second.
func synth(tb testing.TB, workers, seconds int) *loadtest.Result {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	const ms = time.Millisecond
	anchor := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	warmup := time.Duration(seconds/10+1) * time.Second
	measure := time.Duration(seconds) * time.Second
	var marks []timing.Mark
	add := func(p timing.Phase, w int, s, e time.Duration) {
		marks = append(marks, timing.Mark{Phase: p, Worker: w, Start: s, End: e})
	}
	add(timing.PoolInit, timing.Process, 0, 420*ms)
	for c := range workers {
		s := time.Duration(c%8) * 50 * ms
		marks = append(marks, timing.Mark{Phase: timing.PoolConn, Worker: timing.Process, Start: s, End: s + 40*ms + time.Duration(r.IntN(20))*ms, Detail: fmt.Sprint("conn=", c)})
	}
	add(timing.SetupProfile, timing.Process, 420*ms, 900*ms)
	add(timing.CoordRegister, timing.Process, 900*ms, 930*ms)
	add(timing.CoordWait, timing.Process, 930*ms, 1300*ms)
	add(timing.CoordStart, timing.Process, 1290*ms, 1290*ms)
	add(timing.HeartbeatRunning, timing.Process, 1300*ms, 1320*ms)
	add(timing.ScaleWarmup, timing.Process, 1320*ms, 1330*ms)
	start := 1330 * ms
	for w := range workers {
		s := start + time.Duration(w)*100*time.Microsecond
		add(timing.QueryFirst, w, s, s+time.Duration(1+r.IntN(5))*ms)
	}
	add(timing.Warmup, timing.Process, start, start+warmup)
	add(timing.Measure, timing.Process, start+warmup, start+warmup+measure)
	add(timing.Teardown, timing.Process, start+warmup+measure, start+warmup+measure+50*ms)

	res := &loadtest.Result{
		RunID: "synthetic", Node: "host-1", StartedAt: anchor,
		Timeline: timing.Timeline{Node: "host-1", Anchor: anchor, Marks: marks},
		Config: loadtest.RunConfig{Workers: workers, Conns: workers, Warmup: warmup, Duration: measure,
			Interval: time.Second, Operations: []loadtest.OpConfig{{Name: "point_select", Weight: 9}, {Name: "update", Weight: 1}}},
		Phases: loadtest.Phases{
			Warmup:  stats(tb, r, 2000, warmup),
			Measure: stats(tb, r, 20000, measure),
		},
		Operations: map[string]loadtest.Stats{
			"point_select": stats(tb, r, 18000, measure),
			"update":       stats(tb, r, 2000, measure),
		},
	}
	for t := start; t < start+warmup+measure; t += time.Second {
		ph := timing.Measure
		if t < start+warmup {
			ph = timing.Warmup
		}
		ops := int64(900 + r.IntN(200))
		l := loadtest.Latency{P50: time.Duration(1500+r.IntN(500)) * time.Microsecond, P99: time.Duration(5+r.IntN(10)) * ms}
		res.Intervals = append(res.Intervals, loadtest.Interval{
			Start: t, Duration: time.Second, Phase: ph, Ops: ops, Errors: 1, Throughput: float64(ops - 1),
			Latency: l,
			Operations: map[string]loadtest.IntervalOp{
				"point_select": {Ops: ops * 9 / 10, Errors: 1, Latency: l},
				"update":       {Ops: ops - ops*9/10, Latency: l},
			},
		})
	}
	return res
}

// spans counts the marks drawn as bars: those that are not instants.
func spans(res *loadtest.Result) int {
	n := 0
	for _, m := range res.Timeline.Marks {
		if m.Start != m.End {
			n++
		}
	}
	return n
}
