package loadtest_test

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// startLead is how far ahead of now the orchestrator sets the start instant:
// enough for the Runner to learn of the signal and sleep until it, so that
// the gap measured is the start path's own, not the signal's lateness. The
// orchestrator starts the run once the Runner waits (its WaitStart hook),
// when every worker goroutine is parked at the gate: a start issued on
// READY alone may come while the Runner is still starting its workers,
// and the gap would then measure scale.warmup instead.
const startLead = time.Millisecond

// startRun is each run's measured window: long enough that every worker
// issues its first operation in it unless the process is stalled.
const startRun = 50 * time.Millisecond

// BenchmarkStart measures the in-process start path: from the start instant
// that a coordinate.Local publishes (see startLead) to the moment the last of N workers
// issues its first operation, both read from the Runner's hooks
// (StartSignalInfo.Offset and the latest PhaseStartInfo.At of
// FirstQueryStart) on the run's own timeline. Each iteration is a whole
// run; the metric ns-to-last-first-op is the median over the iterations,
// and ns-to-median-first-op the median over them of each run's median
// worker. The goal is under 200µs to the last of 100 workers.
//
// The operation yields the processor, as a database operation does while
// it waits for the server. One that never yields (a bare no-op loop) keeps
// its processor until the runtime preempts it, about 10ms later, so with
// more workers than GOMAXPROCS the last first operation would measure the
// scheduler's time slice, not the start path.
func BenchmarkStart(b *testing.B) {
	for _, workers := range []int{8, 100} {
		b.Run("local/workers="+strconv.Itoa(workers), func(b *testing.B) {
			ctx := context.Background()
			lasts := make([]time.Duration, 0, 64)
			medians := make([]time.Duration, 0, 64)
			firsts := make([]time.Duration, workers)
			for b.Loop() {
				started := make(chan error, 1)
				for i := range firsts {
					firsts[i] = -1
				}
				var at atomic.Int64
				var n atomic.Int64
				coord := coordinate.NewLocal(coordinate.LocalOptions{})
				r, err := loadtest.New(loadtest.Config{
					Pool:        &memPool{},
					Coordinator: coord,
					Workers:     workers,
					Workload: loadtest.Workload{Operations: []loadtest.Operation{{
						Name: "yield", Weight: 1,
						Run: func(context.Context, *loadtest.Worker) error { runtime.Gosched(); return nil },
					}}},
					Duration: startRun,
					Hooks: loadtest.Hooks{
						PhaseStart: func(pi loadtest.PhaseStartInfo) {
							switch pi.Phase {
							case timing.CoordWait:
								go func() {
									_, err := coord.Start(ctx, time.Now().Add(startLead))
									started <- err
								}()
							case timing.QueryFirst:
								firsts[pi.Worker] = pi.At // each worker writes its own slot
								n.Add(1)
							}
						},
						StartSignal: func(si loadtest.StartSignalInfo) { at.Store(int64(si.Offset)) },
					},
				})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Run(ctx); err != nil {
					b.Fatal(err)
				}
				if err := <-started; err != nil {
					b.Fatal(err)
				}
				if got := n.Load(); got != int64(workers) {
					// The process was descheduled for most of the run (the
					// machine is shared): count the missing workers as
					// starting at the end, a lower bound, not as not at all.
					b.Logf("%d of %d workers issued a first operation within %s", got, workers, startRun)
				}
				t := time.Duration(at.Load())
				gaps := make([]time.Duration, workers)
				for i, f := range firsts {
					if f < 0 {
						gaps[i] = startRun
						continue
					}
					gaps[i] = f - t
				}
				slices.Sort(gaps)
				lasts = append(lasts, gaps[workers-1])
				medians = append(medians, gaps[workers/2])
			}
			b.ReportMetric(float64(startMedian(lasts)), "ns-to-last-first-op")
			b.ReportMetric(float64(startMedian(medians)), "ns-to-median-first-op")
		})
	}
}

func startMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
