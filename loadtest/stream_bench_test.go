package loadtest_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// BenchmarkRunnerVsBareLoopStreaming is BenchmarkRunnerVsBareLoop with
// the Runner streaming every interval, at the default interval (one
// record a run) and at 20ms (ten records a run, fifty a second). Each
// round runs the same Runner without and with the stream, and the bare
// loop, so that all three see the same background load (the two Runners
// take turns at going first). It reports each Runner's operations per CPU
// second as a fraction of the bare loop's: vs-bare without the stream,
// vs-bare-stream with it.
func BenchmarkRunnerVsBareLoopStreaming(b *testing.B) {
	for _, iv := range []time.Duration{loadtest.DefaultInterval, 20 * time.Millisecond} {
		for _, n := range benchWorkers {
			b.Run("interval="+iv.String()+"/workers="+strconv.Itoa(n), func(b *testing.B) { benchStreaming(b, n, iv) })
		}
	}
}

func benchStreaming(b *testing.B, n int, interval time.Duration) {
	const rounds, window = 5, 200 * time.Millisecond
	var cpu0, cpu1 time.Duration
	runner := func(stream loadtest.StreamStore) *loadtest.Runner {
		cfg := baseConfig(&memPool{})
		cfg.Workers, cfg.Warmup, cfg.Duration, cfg.Interval = n, 0, window, interval
		cfg.Stream = stream
		cfg.Hooks.PhaseStart = onStart(timing.Measure, func() { cpu0 = cpuTime() })
		cfg.Hooks.PhaseDone = onDone(timing.Measure, func() { cpu1 = cpuTime() })
		r, err := loadtest.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	plain, streaming := runner(nil), runner(new(loadtest.MemoryStream))
	var ops [3]int64
	var cpu [3]time.Duration
	for range b.N {
		for round := range rounds {
			order := []int{0, 1}
			if round%2 == 1 {
				order = []int{1, 0} // neither always runs first
			}
			for _, i := range order {
				r := []*loadtest.Runner{plain, streaming}[i]
				res, err := r.Run(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if i == 1 && res.Stream.Sent == 0 {
					b.Fatalf("nothing streamed: %+v", res.Stream)
				}
				ops[i] += res.Phases.Measure.Ops
				cpu[i] += cpu1 - cpu0
			}
			o, _, c := bareLoop(n, window)
			ops[2], cpu[2] = ops[2]+o, cpu[2]+c
		}
	}
	rate := func(i int) float64 { return float64(ops[i]) / cpu[i].Seconds() }
	b.ReportMetric(rate(0)/rate(2), "vs-bare")
	b.ReportMetric(rate(1)/rate(2), "vs-bare-stream")
}

// fixedSource returns the records it holds.
type fixedSource struct{ recs [][]byte }

func (s *fixedSource) Records(context.Context, string, int64) ([][]byte, error) { return s.recs, nil }

// BenchmarkLiveMerge1000Nodes merges one interval of each of 1,000 nodes
// per iteration (decoding, merging the histograms exactly, completing the
// fleet interval, checking a threshold): a fleet of 1,000 nodes with the
// default one-second interval. core-per-s is the share of one core that
// this takes (seconds of merge per second of run).
func BenchmarkLiveMerge1000Nodes(b *testing.B) {
	const nodes = 1000
	// One node's interval: a real run's record, with its histogram.
	mem := new(loadtest.MemoryStream)
	cfg := baseConfig(&memPool{})
	cfg.RunID, cfg.Node, cfg.Stream, cfg.Warmup, cfg.Duration = "bench", "n", mem, 0, 100*time.Millisecond
	r, err := loadtest.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	raw, err := mem.Records(context.Background(), "bench", 0)
	if err != nil || len(raw) == 0 {
		b.Fatalf("no record: %v", err)
	}
	tmpl, err := loadtest.DecodeStreamRecord(raw[0])
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, nodes)
	for i := range names {
		names[i] = "node-" + strconv.Itoa(i)
	}
	m, err := loadtest.NewLiveMerge(loadtest.LiveOptions{RunID: "bench", Nodes: names, Thresholds: []string{"p99<1h"}, AbortOnFail: true})
	if err != nil {
		b.Fatal(err)
	}
	src := &fixedSource{recs: make([][]byte, nodes)}
	var latencies int64
	for _, st := range tmpl.Operations {
		latencies += st.Ops
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for n := range nodes {
			rec := *tmpl
			rec.Node, rec.Seq = names[n], int64(i)
			rec.Interval.Start = tmpl.Interval.Start + time.Duration(i)*time.Second
			if src.recs[n], err = json.Marshal(&rec); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := m.Poll(context.Background(), src); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := len(m.Intervals()); got < b.N-1 {
		b.Fatalf("%d fleet intervals completed of %d", got, b.N)
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "core-per-s")
	b.ReportMetric(float64(latencies), "latencies/record")
}
