package snowflaketest

import (
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestLatencyShapes draws from each shape with a fixed seed: a uniform
// Latency stays within its bounds, a log-normal one has its median and its
// 99th percentile where it was told, and is clipped.
func TestLatencyShapes(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	assert.Equal(t, 7*time.Millisecond, Fixed(7*time.Millisecond).draw(rng))
	u := Between(10*time.Millisecond, 20*time.Millisecond)
	for range 1000 {
		d := u.draw(rng)
		assert.True(t, d >= 10*time.Millisecond && d <= 20*time.Millisecond, "%v", d)
	}
	l := LogNormal(10*time.Millisecond, 50*time.Millisecond)
	const n = 20000
	belowMedian, belowP99 := 0, 0
	for range n {
		d := l.draw(rng)
		assert.True(t, d >= 0 && d <= 500*time.Millisecond, "%v", d)
		if d < 10*time.Millisecond {
			belowMedian++
		}
		if d < 50*time.Millisecond {
			belowP99++
		}
	}
	assert.InDelta(t, 0.5, float64(belowMedian)/n, 0.02)
	assert.InDelta(t, 0.99, float64(belowP99)/n, 0.005)
	floor := Latency{Min: 8 * time.Millisecond, Median: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	for range 1000 {
		assert.GreaterOrEqual(t, floor.draw(rng), 8*time.Millisecond)
	}
}

func TestLatencyValidate(t *testing.T) {
	for _, l := range []Latency{{Min: -1}, {Min: 2, Max: 1}, {Median: -1}, {Median: 10, Max: 5}, {Min: 20, Median: 10, Max: 30}} {
		assert.Error(t, l.validate("X"), "%+v", l)
	}
	for _, l := range []Latency{{}, Fixed(1), Between(1, 2), LogNormal(1, 2)} {
		assert.NoError(t, l.validate("X"), "%+v", l)
	}
}
