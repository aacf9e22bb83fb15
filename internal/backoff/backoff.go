// Package backoff is the one exponential backoff of the module: the Runner's
// setup retries, the Snowflake pool's login retries and the coordinators'
// heartbeat retries all pause with it.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff yields pauses that start at Initial and double up to Max, each
// shortened at random by up to Jitter of itself. The zero value yields no
// pause. A Backoff is used by one goroutine; copy it to start again.
type Backoff struct {
	// Initial is the first pause. Zero or negative means no pause at all.
	Initial time.Duration
	// Max caps the pauses; zero means no cap.
	Max time.Duration
	// Jitter, from 0 to 1, is how much of each pause is drawn at random:
	// 0.5 gives a pause in [d/2, d]. Jitter spreads the retries of many
	// callers that failed together (logins throttled at once, heartbeats
	// of a fleet whose coordinator blinked), so that they do not come back
	// in lockstep. Values outside 0..1 are clamped.
	Jitter float64

	next time.Duration // the next pause before jitter; 0 before the first
}

// Next returns the next pause and doubles the one after it, up to Max.
func (b *Backoff) Next() time.Duration {
	if b.Initial <= 0 {
		return 0
	}
	if b.next == 0 {
		b.next = b.Initial
	}
	d := b.next
	if b.Max > 0 {
		d = min(d, b.Max)
	}
	if d < (1<<62)/2 { // doubling cannot overflow
		b.next = 2 * d
	}
	if j := min(max(b.Jitter, 0), 1); j > 0 {
		span := time.Duration(float64(d) * j)
		if span > 0 {
			d -= rand.N(span + 1)
		}
	}
	return d
}

// Reset makes the next pause Initial again, as after a success.
func (b *Backoff) Reset() { b.next = 0 }

// Sleep pauses for Next(), or until ctx ends, and returns ctx.Err() if it
// ended first.
func (b *Backoff) Sleep(ctx context.Context) error {
	d := b.Next()
	if err := ctx.Err(); err != nil || d <= 0 {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
