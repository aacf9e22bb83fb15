package loadtest

import "time"

// ScheduledIn is how many operations an arrival-rate run with seed
// schedules in the first d of its window at a constant rate: the pacer's
// own schedule (the first start at the window's start, then a gap after
// each), computed without a clock.
func ScheduledIn(seed uint64, poisson bool, rate float64, d time.Duration) int64 {
	arr := newArrivals(seed, poisson)
	var n int64
	for at := time.Duration(0); at < d; at += arr.gap(rate) {
		n++
	}
	return n
}

// ProgressLine is the progress line of one interval.
var ProgressLine = progressLine
