package snowflaketest

import (
	"fmt"
	"math"
	mrand "math/rand/v2"
	"time"
)

// Latency is a distribution of delays: one draw per request, per statement
// phase or per warehouse start. The zero value adds nothing. Build one
// with Fixed, Between or LogNormal.
type Latency struct {
	// Min and Max bound every draw. A uniform Latency (the default shape)
	// draws from [Min, Max].
	Min, Max time.Duration
	// Median, when positive, makes the distribution log-normal: its median
	// is Median and its 99th percentile Max, with draws below Min or above
	// 10*Max clipped. Real query times are skewed like this: most are
	// close to the median, a few take many times longer.
	Median time.Duration
}

// Fixed returns a Latency of exactly d.
func Fixed(d time.Duration) Latency { return Latency{Min: d, Max: d} }

// Between returns a Latency drawn uniformly from [lo, hi].
func Between(lo, hi time.Duration) Latency { return Latency{Min: lo, Max: hi} }

// LogNormal returns a log-normal Latency with the given median and 99th
// percentile (p99 >= median > 0); draws are clipped to [0, 10*p99].
func LogNormal(median, p99 time.Duration) Latency {
	return Latency{Median: median, Max: p99}
}

func (l Latency) validate(field string) error {
	switch {
	case l.Median < 0:
		return fmt.Errorf("snowflaketest: Options.%s: Median must not be negative, got %v", field, l.Median)
	case l.Median > 0 && (l.Max < l.Median || l.Min < 0 || l.Min > l.Median):
		return fmt.Errorf("snowflaketest: Options.%s: want 0 <= Min <= Median <= Max (the p99), got Min %v, Median %v, Max %v", field, l.Min, l.Median, l.Max)
	case l.Median == 0 && (l.Min < 0 || l.Max < l.Min):
		return fmt.Errorf("snowflaketest: Options.%s: want 0 <= Min <= Max, got Min %v, Max %v", field, l.Min, l.Max)
	}
	return nil
}

// z99 is the standard normal's 99th percentile: a log-normal's p99 is
// median * exp(z99 * sigma).
const z99 = 2.3263478740408408

// draw returns one delay from l, using rng.
func (l Latency) draw(rng *mrand.Rand) time.Duration {
	if l.Median > 0 {
		sigma := math.Log(float64(l.Max)/float64(l.Median)) / z99
		d := time.Duration(float64(l.Median) * math.Exp(sigma*rng.NormFloat64()))
		return min(max(d, l.Min), 10*l.Max)
	}
	if l.Max <= l.Min {
		return l.Min
	}
	return l.Min + time.Duration(rng.Int64N(int64(l.Max-l.Min)+1))
}

// isZero reports whether l never adds anything.
func (l Latency) isZero() bool { return l.Max == 0 && l.Median == 0 }
