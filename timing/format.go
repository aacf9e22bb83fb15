package timing

import (
	"math"
	"time"
)

// FormatDuration formats d for reports with about three significant digits:
// "87.5µs", "12.3ms", "1.204s", "2m3.5s". Seconds keep millisecond
// precision because run phases are compared at that grain; below a second
// one decimal of the unit is kept. Negative durations get a leading "-".
func FormatDuration(d time.Duration) string {
	var unit time.Duration
	switch {
	case d >= time.Second || d <= -time.Second:
		unit = time.Millisecond
	case d >= time.Millisecond || d <= -time.Millisecond:
		unit = 100 * time.Microsecond
	case d >= time.Microsecond || d <= -time.Microsecond:
		unit = 100 * time.Nanosecond
	default:
		unit = time.Nanosecond
	}
	r := d.Round(unit)
	if r == math.MaxInt64 || r == math.MinInt64 { // Round saturated
		r = d.Truncate(unit)
	}
	return r.String()
}
