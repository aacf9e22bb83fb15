package profile_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/profile"
)

func TestRandomID(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tb := &profile.Table{Name: "t", MinID: -3, MaxID: 3, HasIDs: true}
	seen := map[int64]int{}
	for range 7000 {
		id := tb.RandomID(r)
		require.GreaterOrEqual(t, id, int64(-3))
		require.LessOrEqual(t, id, int64(3))
		seen[id]++
	}
	require.Len(t, seen, 7, "every id in the range, both ends included")
	for id, n := range seen {
		// Expected 1000 each; 700..1300 is beyond 9 standard deviations.
		assert.InDelta(t, 1000, n, 300, "id %d drawn %d times", id, n)
	}

	one := &profile.Table{MinID: 42, MaxID: 42, HasIDs: true}
	assert.Equal(t, int64(42), one.RandomID(r))
	assert.Zero(t, (&profile.Table{MinID: 5, MaxID: 9}).RandomID(r), "no ids without HasIDs")
	var nilTable *profile.Table
	assert.Zero(t, nilTable.RandomID(r))

	// The widest ranges neither overflow nor panic.
	full := &profile.Table{MinID: math.MinInt64, MaxID: math.MaxInt64, HasIDs: true}
	wide := &profile.Table{MinID: math.MinInt64 + 1, MaxID: math.MaxInt64 - 1, HasIDs: true}
	var neg, pos bool
	for range 64 {
		full.RandomID(r)
		id := wide.RandomID(r)
		require.NotEqual(t, int64(math.MinInt64), id)
		require.NotEqual(t, int64(math.MaxInt64), id)
		neg, pos = neg || id < 0, pos || id > 0
	}
	assert.True(t, neg && pos, "draws cover both halves of the range")
}

func TestValue(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tb := &profile.Table{Values: map[string][]any{"c": {"a", int64(2), 3.5}, "none": {}}}
	seen := map[any]bool{}
	for range 300 {
		v := tb.Value("c", r)
		require.Contains(t, []any{"a", int64(2), 3.5}, v)
		seen[v] = true
	}
	assert.Len(t, seen, 3)
	assert.Nil(t, tb.Value("none", r))
	assert.Nil(t, tb.Value("absent", r))
	var nilTable *profile.Table
	assert.Nil(t, nilTable.Value("c", r))
}

func TestProfileTableNilSafe(t *testing.T) {
	var p *profile.Profile
	assert.Nil(t, p.Table("t"))
	assert.Nil(t, (&profile.Profile{}).Table("t"))
	tb := &profile.Table{Name: "t"}
	assert.Same(t, tb, (&profile.Profile{Tables: map[string]*profile.Table{"t": tb}}).Table("t"))
}

func TestDrawsDoNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tb := &profile.Table{MinID: 1, MaxID: 1_000_000, HasIDs: true, Values: map[string][]any{
		"name": {"alpha", "beta"}, "n": {int64(12345), int64(67890)}, "f": {1.5, 2.5},
	}}
	var sink int64
	assert.Zero(t, testing.AllocsPerRun(1000, func() { sink += tb.RandomID(r) }))
	var v any
	for _, col := range []string{"name", "n", "f", "absent"} {
		assert.Zero(t, testing.AllocsPerRun(1000, func() { v = tb.Value(col, r) }), col)
	}
	_, _ = sink, v
}

func BenchmarkRandomID(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	tb := &profile.Table{MinID: 1, MaxID: 10_000_000, HasIDs: true}
	b.ReportAllocs()
	var sink int64
	for b.Loop() {
		sink += tb.RandomID(r)
	}
	_ = sink
}

func BenchmarkValue(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	vs := make([]any, 1000)
	for i := range vs {
		vs[i] = int64(i * 1000)
	}
	tb := &profile.Table{Values: map[string][]any{"customer_id": vs}}
	b.ReportAllocs()
	var sink any
	for b.Loop() {
		sink = tb.Value("customer_id", r)
	}
	_ = sink
}
