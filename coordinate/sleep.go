package coordinate

import (
	"context"
	"runtime"
	"time"
)

// spinWindow is how long before the start instant SleepUntil stops relying
// on a timer and spins instead. A Go timer may fire up to a scheduler tick
// late (often hundreds of microseconds, more on a busy machine); a
// millisecond of spinning covers that for the price of one core's
// millisecond per node. A member's Wait returns this long before T, once
// the start can no longer be withdrawn.
const spinWindow = time.Millisecond

// SleepUntil returns at the instant at, or as soon after it as the
// scheduler allows, or with ctx.Err() when ctx ends first.
//
// Every member calls it with the Signal's At, so that nodes which learned
// of the start at different moments still begin together. A plain timer
// would add its own lateness, different for each node, which is the skew
// the start barrier exists to remove; so SleepUntil sleeps on a timer
// until about a millisecond before at, then yields the processor in a loop
// (runtime.Gosched, letting other goroutines spin or run) until at. The start
// is then precise to tens of microseconds rather than a timer tick.
//
// at's monotonic clock reading is used when it has one (a Signal made in
// this process); otherwise the wall clock is.
func SleepUntil(ctx context.Context, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d := time.Until(at) - spinWindow; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	for time.Now().Before(at) {
		if err := ctx.Err(); err != nil {
			return err
		}
		runtime.Gosched()
	}
	return nil
}
