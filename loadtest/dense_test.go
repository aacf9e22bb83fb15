package loadtest

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// TestDenseCountsLayout checks denseCounts against hdrhistogram itself:
// the same number of buckets as newHist, every bucket's lowest value at
// the index hdrhistogram records it at, and a drained batch of values
// from every magnitude giving exactly the counts of recording them one by
// one.
func TestDenseCountsLayout(t *testing.T) {
	counts := newHist().Export().Counts
	if len(counts) != denseLen {
		t.Fatalf("newHist has %d buckets, denseLen is %d", len(counts), denseLen)
	}
	// Each bucket's lowest value, with a count of its own (index+1), and
	// the value just below it, which must fall in the bucket before.
	at, below := newHist(), newHist()
	for i := range denseLen {
		v := denseValue(i)
		if got := denseIndex(v); got != i {
			t.Fatalf("denseIndex(%d) = %d, want %d", v, got, i)
		}
		if err := at.RecordValues(v, int64(i+1)); err != nil {
			t.Fatalf("bucket %d: value %d: %v", i, v, err)
		}
		if i > 0 {
			_ = below.RecordValues(v-1, int64(i))
		}
	}
	atCounts, belowCounts := at.Export().Counts, below.Export().Counts
	for i := range denseLen {
		if atCounts[i] != int64(i+1) {
			t.Fatalf("bucket %d: hdrhistogram records its lowest value %d elsewhere", i, denseValue(i))
		}
		if i < denseLen-1 && belowCounts[i] != int64(i+1) {
			t.Fatalf("bucket %d: %d is not its lowest value", i+1, denseValue(i+1))
		}
	}

	r := rand.New(rand.NewPCG(1, 2))
	vs := []int64{-5, 0, 1, 1023, 1024, 2047, 2048, 2049, int64(maxLatency), int64(maxLatency) + 1, 1 << 62}
	for range 100_000 {
		vs = append(vs, r.Int64N(1<<uint(r.IntN(43))))
	}
	want, d := newHist(), new(denseCounts)
	recordAll(want, vs)
	for c := range slices.Chunk(vs, batchLen) {
		d.recordAll(c)
	}
	got := newHist()
	_ = got.RecordValue(int64(time.Millisecond)) // drainInto adds to what is there
	_ = want.RecordValue(int64(time.Millisecond))
	d.drainInto(&got)
	if !slices.Equal(got.Export().Counts, want.Export().Counts) || got.TotalCount() != want.TotalCount() {
		t.Fatalf("drained counts differ from hdrhistogram's: total %d, want %d", got.TotalCount(), want.TotalCount())
	}
	if got.Max() != want.Max() || got.Min() != want.Min() {
		t.Fatalf("min/max %d/%d, want %d/%d", got.Min(), got.Max(), want.Min(), want.Max())
	}
	if d.total != 0 || slices.ContainsFunc(d.counts[:], func(c int64) bool { return c != 0 }) {
		t.Fatal("drainInto left counts behind")
	}
	var none *hdrhistogram.Histogram
	d.drainInto(&none)
	if none != nil {
		t.Fatal("draining an empty denseCounts made a histogram")
	}
}
