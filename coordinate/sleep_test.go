package coordinate_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
)

func TestSleepUntilReturnsNotBeforeAt(t *testing.T) {
	for _, ahead := range []time.Duration{0, 300 * time.Microsecond, 5 * time.Millisecond} {
		at := time.Now().Add(ahead)
		require.NoError(t, coordinate.SleepUntil(t.Context(), at))
		now := time.Now()
		assert.False(t, now.Before(at), "returned %s before at (ahead %s)", at.Sub(now), ahead)
	}
}

func TestSleepUntilPastInstantReturnsAtOnce(t *testing.T) {
	require.NoError(t, coordinate.SleepUntil(t.Context(), time.Now().Add(-time.Hour)))
}

func TestSleepUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := coordinate.SleepUntil(ctx, time.Now().Add(time.Hour))
	require.ErrorIs(t, err, context.Canceled)
}

func TestSleepUntilCancelledWhileSleeping(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- coordinate.SleepUntil(ctx, time.Now().Add(time.Hour)) }()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

// TestSleepUntilWallClockInstant: an instant read from another process (no
// monotonic reading) is waited for by the wall clock.
func TestSleepUntilWallClockInstant(t *testing.T) {
	at := time.Now().Add(3 * time.Millisecond).Round(0) // strips the monotonic reading
	require.NoError(t, coordinate.SleepUntil(t.Context(), at))
	assert.False(t, time.Now().Round(0).Before(at), "returned before the wall-clock instant")
}
