package precise

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The ways to wait that BenchmarkWait compares, side by side, for the
// pacer of an arrival-rate run: each waits for the instants at = start +
// i*gap, one after the other, and the benchmark reports how late each
// returned (p50-ns, p99-ns) and the process's CPU time per wait
// (cpu-ns/wait; a core's share is that over the gap).
type wait struct {
	name   string
	wait   func(at time.Time)
	locked bool // the goroutine keeps its OS thread locked, with 1 ns slack, for all its waits
}

var waits = []wait{
	// A Go timer for the whole wait.
	{name: "timer", wait: func(at time.Time) {
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
	}},
	// The kernel's absolute sleep alone, on a locked thread with 1 ns slack.
	{name: "nanosleep", wait: func(at time.Time) {
		if time.Until(at) > 0 {
			sleepKernel(at)
		}
	}},
	// The kernel's sleep to SpinWindow (20 µs) before, then a Gosched
	// spin: Sleep.
	{name: "nanosleep+spin", wait: Sleep},
	// The same with a longer and a shorter spin.
	{name: "nanosleep+spin50us", wait: func(at time.Time) { sleepSpin(at, 50*time.Microsecond) }},
	{name: "nanosleep+spin5us", wait: func(at time.Time) { sleepSpin(at, 5*time.Microsecond) }},
	// Sleep on a thread locked for all the waits (slack set once): the
	// Gosched spin then hands the thread's P off and back each time.
	{name: "locked:nanosleep+spin", wait: Sleep, locked: true},
	// The same, spinning without yielding.
	{name: "locked:nanosleep+busy", locked: true, wait: func(at time.Time) {
		if time.Until(at) > SpinWindow {
			sleepKernel(at.Add(-SpinWindow))
		}
		for time.Now().Before(at) {
		}
	}},
	// A timer to a millisecond before, then a spin (coordinate.SleepUntil's
	// old way).
	{name: "timer+spin", wait: func(at time.Time) {
		if d := time.Until(at) - time.Millisecond; d > 0 {
			time.Sleep(d)
		}
		Spin(at)
	}},
}

func BenchmarkWait(b *testing.B) {
	for _, gap := range []time.Duration{time.Millisecond, 100 * time.Microsecond, 10 * time.Microsecond} {
		for _, w := range waits {
			b.Run("gap="+gap.String()+"/"+w.name, func(b *testing.B) {
				if w.locked {
					defer lockThread()()
				}
				n := int(100 * time.Millisecond / gap) // 100 ms of waits per round
				late := make([]time.Duration, 0, n*b.N)
				cpu0 := cpuTime()
				for range b.N {
					start := time.Now().Add(time.Millisecond)
					for i := range n {
						at := start.Add(time.Duration(i) * gap)
						w.wait(at)
						late = append(late, time.Since(at))
					}
				}
				cpu := cpuTime() - cpu0
				slices.Sort(late)
				b.ReportMetric(float64(late[len(late)/2]), "p50-ns")
				b.ReportMetric(float64(late[len(late)*99/100]), "p99-ns")
				b.ReportMetric(float64(cpu)/float64(len(late)), "cpu-ns/wait")
				b.ReportMetric(float64(cpu)/float64(time.Duration(len(late))*gap), "core-share")
			})
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCrowd: n goroutines of one process wait with Until for the same
// instant, 5 ms ahead, as the members of a fleet simulated in one process
// do (coordtest.FleetStart). It reports, as medians over the rounds, how
// late the median waiter returned (p50-ns) and the last one (last-ns):
// what the waits themselves add to a crowd's skew, apart from the
// coordinator's traffic and the collections of a shared heap.
func BenchmarkCrowd(b *testing.B) {
	for _, n := range []int{1, 8, 100, 1000} {
		b.Run(fmt.Sprintf("waiters=%d", n), func(b *testing.B) {
			var p50s, lasts []time.Duration
			late := make([]time.Duration, n)
			for range b.N {
				at := time.Now().Add(5 * time.Millisecond)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						_ = Until(context.Background(), at)
						late[i] = time.Since(at)
					})
				}
				wg.Wait()
				slices.Sort(late)
				p50s, lasts = append(p50s, late[n/2]), append(lasts, late[n-1])
			}
			slices.Sort(p50s)
			slices.Sort(lasts)
			b.ReportMetric(float64(p50s[len(p50s)/2]), "p50-ns")
			b.ReportMetric(float64(lasts[len(lasts)/2]), "last-ns")
		})
	}
}
