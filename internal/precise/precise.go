package precise

import (
	"context"
	"runtime"
	"time"
)

// SpinWindow is how long before the instant Sleep stops sleeping and
// starts yielding in a loop. It covers most of the kernel's wake-up
// latency (a median of 10-20 µs, on this project's loaded 2-core machine)
// at the price of that much CPU per wait; BenchmarkWait measured 50 µs
// too, which took twice the CPU at 10,000 waits a second for a p99 that
// the machine's load decided anyway (PERFORMANCE.md).
const SpinWindow = 20 * time.Microsecond

// MaxSleep bounds one uninterruptible kernel sleep in Until: longer waits
// sleep on a Go timer first, which a context can end.
const MaxSleep = 2 * time.Millisecond

// Sleep returns at the instant at, or as soon after it as the processor
// allows; at once if at has passed. It cannot be interrupted: keep at
// within MaxSleep or so, or use Until.
func Sleep(at time.Time) { sleepSpin(at, SpinWindow) }

// sleepSpin sleeps in the kernel until spin before at, then spins.
func sleepSpin(at time.Time, spin time.Duration) {
	if d := time.Until(at) - spin; d > 0 {
		sleepKernel(at.Add(-spin))
	}
	Spin(at)
}

// Spin yields the processor in a loop until the instant at.
func Spin(at time.Time) {
	for time.Now().Before(at) {
		runtime.Gosched()
	}
}

// Until returns at the instant at, as Sleep does, or with ctx's error when
// ctx ends first. Waits longer than MaxSleep begin on a Go timer that ends
// MaxSleep early, which ctx can interrupt.
func Until(ctx context.Context, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d := time.Until(at) - MaxSleep; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	Sleep(at)
	return ctx.Err()
}
