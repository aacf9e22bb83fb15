package loadtest

import (
	"math/rand/v2"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The live merge's own reading of an encoded histogram holds the same
// counts as hdrhistogram.Decode, and its percentiles after a merge are
// those of Merge.
func TestDecodeSparseMatchesDecode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var acc liveStats
	want := newHist()
	for round := range 20 {
		h := newHist()
		for range 1 + r.IntN(5000) {
			v := time.Duration(r.ExpFloat64() * float64(time.Duration(1+round)*time.Millisecond))
			require.NoError(t, h.RecordValue(min(int64(v), int64(maxLatency))))
		}
		if round == 3 {
			require.NoError(t, h.RecordValue(int64(maxLatency))) // the last bucket
			require.NoError(t, h.RecordValue(1))                 // the first
		}
		enc, err := (&Histogram{h: h}).MarshalJSON()
		require.NoError(t, err)
		sp, err := decodeSparse(string(enc[1 : len(enc)-1]))
		require.NoError(t, err)
		require.NoError(t, acc.addSparse(sp))
		want.Merge(h)
	}
	got := hdrhistogram.Import(acc.snap)
	assert.Equal(t, want.TotalCount(), got.TotalCount())
	for _, q := range []float64{0, 1, 50, 90, 99, 99.9, 100} {
		assert.Equal(t, want.ValueAtQuantile(q), got.ValueAtQuantile(q), "q%v", q)
	}
	assert.Equal(t, want.Export().Counts, acc.snap.Counts)

	for _, bad := range []string{"", "not base64!", "AAAA", "HIST"} {
		_, err := decodeSparse(bad)
		assert.Error(t, err, "%q", bad)
	}
}

// Another geometry than the merge's own is merged exactly all the same.
func TestDecodeSparseOtherGeometry(t *testing.T) {
	var acc liveStats
	for _, h := range []*hdrhistogram.Histogram{hdrhistogram.New(1, 1000000, 2), newHist()} {
		for v := int64(1); v < 1000000; v *= 3 {
			require.NoError(t, h.RecordValue(v))
		}
		enc, err := (&Histogram{h: h}).MarshalJSON()
		require.NoError(t, err)
		sp, err := decodeSparse(string(enc[1 : len(enc)-1]))
		require.NoError(t, err)
		require.NoError(t, acc.addSparse(sp))
	}
	assert.EqualValues(t, 2*13, hdrhistogram.Import(acc.snap).TotalCount())
}
