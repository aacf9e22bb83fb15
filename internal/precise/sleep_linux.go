package precise

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// The conversion from Go's monotonic clock to CLOCK_MONOTONIC: the kernel
// clock read at Go's instant epoch. Both are the same clock (the runtime
// reads CLOCK_MONOTONIC through the vDSO), so one pair of readings, taken
// as close together as a few tries allow, converts every instant.
var epoch, epochMono = mono()

// mono returns a time.Time and the CLOCK_MONOTONIC reading, in
// nanoseconds, of the same instant: the middle of the tightest of a few
// kernel readings bracketing time.Now.
func mono() (time.Time, int64) {
	var best time.Time
	var bestMono, width int64 = 0, -1
	for range 16 {
		var a, b unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &a)
		t := time.Now()
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
		if w := b.Nano() - a.Nano(); width < 0 || w < width {
			best, bestMono, width = t, a.Nano()+w/2, w
		}
	}
	return best, bestMono
}

// monoOf is the CLOCK_MONOTONIC reading, in nanoseconds, at the instant t.
func monoOf(t time.Time) int64 { return epochMono + int64(t.Sub(epoch)) }

// sleepKernel sleeps until at with an absolute clock_nanosleep, on the
// calling goroutine's OS thread, locked for the call, with a timer slack of
// 1 ns (restored afterwards, so that the thread goes back to the runtime as
// it was).
func sleepKernel(at time.Time) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err == nil && old != 1 {
		_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
		defer func() { _ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0) }()
	}
	ts := unix.NsecToTimespec(monoOf(at))
	for {
		// EINTR (a signal, such as the runtime's preemption) sleeps again
		// to the same absolute deadline.
		if err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil); err != unix.EINTR {
			return
		}
	}
}
