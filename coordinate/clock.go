package coordinate

import (
	"context"
	"fmt"
	"time"
)

// measureClock reads c n times (at least once) and keeps the reading with
// the least round trip: the offset is the local midpoint of that round
// trip minus the reference reading, and the bound is half the round trip
// plus the reference clock's resolution. The local clock is this
// process's run skew ahead (Options.ClockSkew); a nil c is this process's
// clock itself, read without a round trip: the offset is the skew, the
// bound zero. The bound holds whatever the
// asymmetry of the two directions: the reading was taken somewhere inside
// the round trip, at most half of it from the midpoint.
func measureClock(ctx context.Context, c Clock, n int, skew time.Duration) (offset, bound time.Duration, err error) {
	if c == nil {
		return skew, 0, nil
	}
	best, res := time.Duration(-1), time.Duration(0)
	for range max(n, 1) {
		t0 := time.Now()
		ref, r, err := c.ReadClock(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("reading the reference clock: %w", err)
		}
		rtt := time.Since(t0) // monotonic
		if best < 0 || rtt < best {
			best, res = rtt, r
			offset = t0.Add(skew + rtt/2).Sub(ref.Round(0)) // on the wall clocks
		}
	}
	return offset, best/2 + res, nil
}
