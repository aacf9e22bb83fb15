// Package precise waits until an instant more precisely than a Go timer.
//
// A Go timer fires through the runtime's netpoller and scheduler, which on a
// busy machine wakes it hundreds of microseconds to milliseconds late. A
// load generator's pacer (loadtest) and a fleet's start barrier
// (coordinate.SleepUntil) need the instant itself: their lateness is added
// to what they measure.
//
// Sleep waits in two steps. Until shortly before the instant (SpinWindow)
// it sleeps in the kernel: on Linux an absolute clock_nanosleep on
// CLOCK_MONOTONIC, on an OS thread locked for the call whose timer slack is
// set to 1 ns (the default slack, 50 µs, would let the kernel coalesce the
// wake-up that much later). Then it yields the processor in a loop
// (runtime.Gosched), reading Go's monotonic clock, until the instant: the
// last microseconds cost a little CPU but no wake-up latency. Elsewhere the
// first step is a Go timer that ends a millisecond early.
//
// Instants are time.Time values carrying a monotonic clock reading (as
// time.Now gives). Go's monotonic clock on Linux is CLOCK_MONOTONIC, but a
// time.Time holds it as an offset that cannot be read; the package converts
// through one pair of readings of both clocks taken when it starts (see
// mono), so that the kernel's absolute deadline and Go's clock agree to
// well under a microsecond.
package precise
