package loadtest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/timing"
)

// TestStepAllocatesNothing: the closed loop's hot path (phase, choice,
// call, clock read, plan check, record) allocates nothing, also across an
// interval hand-over.
func TestStepAllocatesNothing(t *testing.T) {
	rec := timing.NewRecorder("n", 0)
	noop := func(context.Context, *Worker) error { return nil }
	p := &plan{ops: []Operation{{Name: "a", Weight: 1, Run: noop}, {Name: "b", Weight: 1, Run: noop}},
		cumWeights: []int{1, 2}, total: 2, rec: rec}
	p.setWindow(never, never)
	p.multi = true
	w := &Worker{rand: rand.New(rand.NewPCG(1, 2)), cur: newIbuf(2)}
	w.tl = w.cur.t
	w.free.Store(newIbuf(2))
	w.refresh(p)
	ctx := context.Background()
	now := rec.Now()
	step := func() { // some 100 operations
		w.end = rec.Now() + 20*time.Microsecond
		now = w.loop(ctx, p, now)
	}
	step() // the histograms are allocated on first use
	assert.Zero(t, testing.AllocsPerRun(1000, step))

	// A hand-over: the epoch moves on, the worker hands its buffer over at
	// its next operation, the collector takes it and gives it back.
	ru := &run{plan: p, workers: []*Worker{w}}
	ru.col.init(2)
	before := w.cur.t[inWarmup][0].count() + w.cur.t[inWarmup][1].count()
	allocs := testing.AllocsPerRun(100, func() {
		p.epoch.Add(1)
		p.gen.Add(1)
		w.refresh(p)
		step()
		ru.gather()
	})
	assert.Zero(t, allocs)
	require.Greater(t, before, int64(0))
	var got int64
	for i := range 2 {
		got += ru.col.iv[inWarmup][i].count()
	}
	assert.Greater(t, got, before, "the collector got what was recorded before each hand-over")
}
