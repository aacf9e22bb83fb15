package precise

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMonoAgrees checks the conversion: the kernel's CLOCK_MONOTONIC and
// Go's instant converted to it are read back to back, so they may differ
// by the readings' own cost (a system call) but never by the offset
// between the clocks.
func TestMonoAgrees(t *testing.T) {
	for range 5 {
		var ts unix.Timespec
		now := time.Now()
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			t.Fatal(err)
		}
		if d := time.Duration(ts.Nano() - monoOf(now)); d < 0 || d > time.Millisecond {
			t.Fatalf("CLOCK_MONOTONIC is %v after the converted reading taken just before it", d)
		}
	}
}

// TestSleepKernelNotEarly: the kernel sleep to an absolute deadline never
// returns before it, so the conversion does not make it early.
func TestSleepKernelNotEarly(t *testing.T) {
	for range 20 {
		at := time.Now().Add(200 * time.Microsecond)
		sleepKernel(at)
		if time.Now().Before(at) {
			t.Fatalf("woke %v early", time.Until(at))
		}
	}
}
