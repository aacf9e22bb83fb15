package loadtest_test

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// benchWindow is how long each benchmark run measures.
const benchWindow = time.Second

var benchWorkers = []int{1, 2, 64}

// BenchmarkRunner runs a no-op operation through the Runner, closed loop,
// for benchWindow, and reports the measured throughput as ops/s, and the
// time, bytes and allocations per operation during the measured window
// (they replace the per-run figures -benchmem would print). Compare ops/s
// with BenchmarkBareLoop's at the same number of workers.
func BenchmarkRunner(b *testing.B) {
	for _, n := range benchWorkers {
		b.Run("noop/workers="+strconv.Itoa(n), func(b *testing.B) {
			cfg := baseConfig(&memPool{})
			cfg.Workers = n
			cfg.Warmup = 0
			cfg.Duration = benchWindow
			benchRun(b, cfg)
		})
	}
}

// BenchmarkRunnerRate runs a no-op operation through the Runner at an
// arrival rate and reports the throughput reached and its ratio to the
// target (1 is on target), the pacer's own lateness (sched-p50-ns,
// sched-p99-ns: scheduled start to release, of the last run) and the
// process's CPU time over the window (cpu-cores: the cores it kept busy,
// the pacer's spin and the workers' wake-ups; ops/cpu-s from benchRun).
func BenchmarkRunnerRate(b *testing.B) {
	for _, rate := range []float64{1_000, 10_000, 100_000} {
		b.Run("noop/rate="+strconv.FormatFloat(rate, 'f', -1, 64), func(b *testing.B) {
			cfg := baseConfig(&memPool{})
			cfg.Workers = 4
			cfg.Rate = rate
			cfg.Warmup = 0
			cfg.Duration = benchWindow
			res := benchRun(b, cfg)
			m := res.Phases.Measure
			b.ReportMetric(m.Throughput/rate, "of-target")
			b.ReportMetric(float64(m.Dropped), "dropped")
			b.ReportMetric(float64(m.Late), "late")
			if m.SchedLag == nil {
				b.Fatal("no scheduling lag measured")
			}
			b.ReportMetric(float64(m.SchedLag.P50), "sched-p50-ns")
			b.ReportMetric(float64(m.SchedLag.P99), "sched-p99-ns")
			if m.Queue != nil {
				b.ReportMetric(float64(m.Queue.P50), "queue-p50-ns")
			}
		})
	}
}

// benchRun runs cfg b.N times and reports the measured window's figures.
func benchRun(b *testing.B, cfg loadtest.Config) *loadtest.Result {
	var before, after runtime.MemStats
	var cpu0, cpu1 time.Duration
	cfg.Hooks.PhaseStart = onStart(timing.Measure, func() { runtime.ReadMemStats(&before); cpu0 = cpuTime() })
	cfg.Hooks.PhaseDone = onDone(timing.Measure, func() { cpu1 = cpuTime(); runtime.ReadMemStats(&after) })
	r, err := loadtest.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var ops, mallocs, bytes int64
	var window, cpu time.Duration
	var res *loadtest.Result
	for range b.N {
		res, err = r.Run(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		ops += res.Phases.Measure.Ops
		window += res.Phases.Measure.Duration
		mallocs += int64(after.Mallocs - before.Mallocs)
		bytes += int64(after.TotalAlloc - before.TotalAlloc)
		cpu += cpu1 - cpu0
	}
	if ops == 0 {
		b.Fatal("no operation measured")
	}
	b.ReportMetric(float64(ops)/window.Seconds(), "ops/s")
	b.ReportMetric(float64(ops)/cpu.Seconds(), "ops/cpu-s")
	b.ReportMetric(float64(window.Nanoseconds())/float64(ops), "ns/op")
	b.ReportMetric(float64(mallocs)/float64(ops), "allocs/op")
	b.ReportMetric(float64(bytes)/float64(ops), "B/op")
	b.ReportMetric(cpu.Seconds()/window.Seconds(), "cpu-cores")
	return res
}

// BenchmarkBareLoop is the floor the Runner is measured against: n
// goroutines, each reading the clock once per operation (an operation's end
// is the next one's start, as in the Runner), calling a no-op operation
// through a func value and recording the latency in its own histogram.
func BenchmarkBareLoop(b *testing.B) {
	for _, n := range benchWorkers {
		b.Run("workers="+strconv.Itoa(n), func(b *testing.B) {
			var ops int64
			var window, cpu time.Duration
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range b.N {
				o, w, c := bareLoop(n, benchWindow)
				ops, window, cpu = ops+o, window+w, cpu+c
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(ops)/window.Seconds(), "ops/s")
			b.ReportMetric(float64(ops)/cpu.Seconds(), "ops/cpu-s")
			b.ReportMetric(float64(window.Nanoseconds())/float64(ops), "ns/op")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(ops), "allocs/op")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(ops), "B/op")
		})
	}
}

var noopOp = func(context.Context, *loadtest.Worker) error { return nil }

// bareLoop runs n goroutines from one start to one end, d apart, and
// returns the operations they did, d and the process's CPU time meanwhile.
func bareLoop(n int, d time.Duration) (int64, time.Duration, time.Duration) {
	base := time.Now()
	start := make(chan struct{})
	counts := make([]int64, n)
	var end time.Duration
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			h := hdrhistogram.New(1, int64(time.Hour), 3)
			ctx, op, w := context.Background(), noopOp, &loadtest.Worker{}
			<-start
			now := time.Since(base)
			for now < end {
				_ = op(ctx, w)
				t := time.Since(base)
				_ = h.RecordValue(int64(t - now))
				now = t
			}
			counts[i] = h.TotalCount()
		})
	}
	time.Sleep(time.Millisecond)
	end = time.Since(base) + d
	cpu0 := cpuTime()
	close(start)
	wg.Wait()
	cpu := cpuTime() - cpu0
	var total int64
	for _, c := range counts {
		total += c
	}
	return total, d, cpu
}

// cpuTime is the CPU time the process has used. On a machine shared with
// other work, ops per CPU second compares the Runner with the bare loop
// more fairly than ops per second, which depends on the CPU the other
// work leaves.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRunnerVsBareLoop alternates short Runner runs and bare loops
// at the same number of workers, so that both see the same background
// load, and reports the Runner's operations per CPU second as a fraction
// of the bare loop's (vs-bare; the goal is at least 0.97 at every worker count).
func BenchmarkRunnerVsBareLoop(b *testing.B) {
	const rounds, window = 5, 200 * time.Millisecond
	for _, n := range benchWorkers {
		b.Run("workers="+strconv.Itoa(n), func(b *testing.B) {
			cfg := baseConfig(&memPool{})
			cfg.Workers, cfg.Warmup, cfg.Duration = n, 0, window
			var cpu0, cpu1 time.Duration
			cfg.Hooks.PhaseStart = onStart(timing.Measure, func() { cpu0 = cpuTime() })
			cfg.Hooks.PhaseDone = onDone(timing.Measure, func() { cpu1 = cpuTime() })
			r, err := loadtest.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			var runnerOps, bareOps int64
			var runnerCPU, bareCPU time.Duration
			for range b.N {
				for range rounds {
					res, err := r.Run(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					runnerOps += res.Phases.Measure.Ops
					runnerCPU += cpu1 - cpu0
					o, _, c := bareLoop(n, window)
					bareOps, bareCPU = bareOps+o, bareCPU+c
				}
			}
			b.ReportMetric((float64(runnerOps)/runnerCPU.Seconds())/(float64(bareOps)/bareCPU.Seconds()), "vs-bare")
		})
	}
}

// BenchmarkRunnerHeap reports the live heap growth from the first interval
// to the last of a closed-loop run, for a short and a longer run: memory
// does not grow with the run's length.
func BenchmarkRunnerHeap(b *testing.B) {
	for _, d := range []time.Duration{2 * time.Second, 8 * time.Second} {
		b.Run("duration="+d.String(), func(b *testing.B) {
			var growth float64
			for range b.N {
				first, last := heapOverRun(b, d, 250*time.Millisecond)
				growth += float64(last) - float64(first)
			}
			b.ReportMetric(growth/float64(b.N), "heap-growth-B")
		})
	}
}

// heapOverRun runs 4 workers for d and returns the live heap (after a GC)
// at the first and at the last interval collected while they ran.
func heapOverRun(tb testing.TB, d, interval time.Duration) (first, last uint64) {
	cfg := baseConfig(&memPool{})
	cfg.Warmup = 0
	cfg.Duration = d
	cfg.Interval = interval
	var heaps []uint64
	cfg.Hooks.Interval = func(loadtest.Interval) {
		var m runtime.MemStats
		// Two collections: the first moves sync.Pool contents to the
		// victim cache, the second frees them.
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		heaps = append(heaps, m.HeapAlloc)
	}
	r, err := loadtest.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := r.Run(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if len(heaps) < 6 {
		tb.Fatalf("%d intervals", len(heaps))
	}
	// The first interval is collected before every buffer is in use, the
	// last after the workers stopped. Each end takes the least of three
	// readings: a reading taken while a worker hands over its interval
	// holds a spare histogram (a few hundred KB) for a moment, which is
	// not growth; growth raises all three.
	return slices.Min(heaps[1:4]), slices.Min(heaps[len(heaps)-4 : len(heaps)-1])
}
