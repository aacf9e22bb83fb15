package coordinate

import (
	"context"
	"time"

	"github.com/startline/startline/internal/precise"
)

// spinWindow is how long before the start instant a member's Wait returns,
// once the start can no longer be withdrawn, leaving SleepUntil the rest.
const spinWindow = time.Millisecond

// SleepUntil returns at the instant at, or as soon after it as the
// scheduler allows, or with ctx.Err() when ctx ends first.
//
// Every member calls it with the Signal's At, so that nodes which learned
// of the start at different moments still begin together. A plain timer
// would add its own lateness, different for each node, which is the skew
// the start barrier exists to remove; so SleepUntil waits as the
// arrival-rate pacer does (internal/precise): on a timer until a couple of
// milliseconds before at, then an absolute kernel sleep with a 1 ns timer
// slack until shortly before it, then a short spin yielding the processor
// (runtime.Gosched). The start is precise to microseconds, and the spin
// lasts tens of microseconds, not a millisecond, so that many processes on
// few cores do not compete for them at the very instant they must run.
//
// at's monotonic clock reading is used when it has one (a Signal made in
// this process); otherwise the wall clock is.
func SleepUntil(ctx context.Context, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// A wall-clock instant is moved onto the monotonic clock once, now.
	if d := time.Until(at); d > 0 {
		return precise.Until(ctx, time.Now().Add(d))
	}
	return nil
}
