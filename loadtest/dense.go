package loadtest

import (
	"math/bits"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Why the shared histograms are not hdrhistogram's.
//
// Moving a full batch into a shared histogram is, after the clock read,
// the most a worker does per operation. hdrhistogram's RecordValue reads
// the histogram's geometry from its fields and keeps the total, the
// minimum and the maximum for every value. A shard's histogram has one
// geometry, newHist's, known here as constants: denseCounts keeps the
// counts in hdrhistogram's own layout for it, finds a value's bucket with
// a few instructions on constants and adds the batch's total once, in
// about half the time per value. The collector adds the used buckets into
// an hdrhistogram when it drains the shard (drainInto), each at its
// bucket's lowest value, which falls in the same bucket: the counts, and
// so every percentile, are exactly those of recording the values one by
// one, and TestDenseCountsLayout checks the layout against hdrhistogram's.

// newHist's geometry (1ns..1h, 3 significant digits) as hdrhistogram
// computes it: the unit magnitude is 0 (lowest 1); 2*10^3 values need
// 2^11 sub-buckets, of which the upper half, 2^10, is new in each bucket
// after the first; 32 buckets cover an hour of nanoseconds.
const (
	subHalfMagnitude = 10
	subHalf          = 1 << subHalfMagnitude
	subMask          = 2*subHalf - 1
	denseLen         = (32 + 1) * subHalf
)

// denseCounts is a histogram of newHist's geometry that only records and
// drains.
type denseCounts struct {
	counts [denseLen]int64
	total  int64 // values recorded since the last drain
}

// denseIndex is the index of v (0 <= v <= maxLatency) in the counts, as
// hdrhistogram's countsIndexFor computes it for newHist's geometry.
func denseIndex(v int64) int {
	bucket := 64 - bits.LeadingZeros64(uint64(v)|subMask) - (subHalfMagnitude + 1)
	return (bucket+1)<<subHalfMagnitude + int(v>>bucket) - subHalf
}

// denseValue is the lowest value that falls in the bucket at index i.
func denseValue(i int) int64 {
	bucket, sub := i>>subHalfMagnitude-1, i&(subHalf-1)+subHalf
	if bucket < 0 {
		bucket, sub = 0, sub-subHalf
	}
	return int64(sub) << bucket
}

// recordAll records vs, each clamped to newHist's range.
func (d *denseCounts) recordAll(vs []int64) {
	for _, v := range vs {
		d.counts[denseIndex(inRange(v))]++
	}
	d.total += int64(len(vs))
}

// drainInto adds d's counts to *h (made if nil) and empties d.
func (d *denseCounts) drainInto(h **hdrhistogram.Histogram) {
	if d.total == 0 {
		return
	}
	if *h == nil {
		*h = newHist()
	}
	for i, c := range d.counts {
		if c != 0 {
			_ = (*h).RecordValues(denseValue(i), c) // cannot fail: within range
			d.counts[i] = 0
		}
	}
	d.total = 0
}
