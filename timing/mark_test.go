package timing_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/timing"
)

func TestRecorderRecordsInOrder(t *testing.T) {
	before := time.Now()
	r := timing.NewRecorder("n1", 8)
	after := time.Now()
	assert.False(t, r.Anchor().Before(before.Round(0)) || r.Anchor().After(after.Round(0)))

	start := r.Now()
	end := r.Span(timing.PoolInit, timing.Process, start, nil)
	assert.GreaterOrEqual(t, end, start)
	r.Instant(timing.CoordStart, timing.Process, end)
	r.Span(timing.QueryFirst, 2, end, errors.New("syntax error"))
	r.Record(timing.Mark{Phase: timing.PoolConn, Worker: timing.Process, Start: 1, End: 2, Detail: "conn=0"})
	r.SetClockOffset(3*time.Millisecond, time.Millisecond)

	tl := r.Timeline()
	assert.Equal(t, "n1", tl.Node)
	assert.Equal(t, 3*time.Millisecond, tl.ClockOffset)
	assert.Equal(t, time.Millisecond, tl.ClockError)
	require.Len(t, tl.Marks, 4)
	assert.Equal(t, timing.Mark{Phase: timing.PoolInit, Worker: timing.Process, Start: start, End: end}, tl.Marks[0])
	assert.Equal(t, timing.Mark{Phase: timing.CoordStart, Worker: timing.Process, Start: end, End: end}, tl.Marks[1])
	assert.Equal(t, "syntax error", tl.Marks[2].Err)
	assert.Equal(t, 2, tl.Marks[2].Worker)
	assert.Equal(t, "conn=0", tl.Marks[3].Detail)

	// Timeline is a copy: later records do not show in it, nor edits in r.
	tl.Marks[0].Phase = "edited"
	r.Instant(timing.Teardown, timing.Process, r.Now())
	assert.Len(t, tl.Marks, 4)
	assert.Equal(t, timing.PoolInit, r.Timeline().Marks[0].Phase)
}

func TestRecorderOffsetAndTime(t *testing.T) {
	r := timing.NewRecorder("", -1) // a negative capacity is zero, not a panic
	at := r.Time(1500 * time.Millisecond)
	assert.Equal(t, 1500*time.Millisecond, r.Offset(at))
	// A time from elsewhere (no monotonic reading) converts by wall clock.
	assert.Equal(t, -2*time.Second, r.Offset(r.Anchor().Add(-2*time.Second)))
	r.Instant(timing.CoordStart, timing.Process, r.Offset(r.Anchor().Add(-2*time.Second)))
	assert.Equal(t, -2*time.Second, r.Timeline().Marks[0].Start)
}

func TestRecorderZeroAllocsWithinCapacity(t *testing.T) {
	const runs = 100
	// AllocsPerRun calls f once to warm up, then runs times.
	r := timing.NewRecorder("n", 3*(runs+1))
	m := timing.Mark{Phase: timing.PoolConn, Worker: timing.Process, Start: 1, End: 2, Detail: "conn=1"}
	assert.Zero(t, testing.AllocsPerRun(runs, func() { r.Record(m) }), "Record")
	assert.Zero(t, testing.AllocsPerRun(runs, func() { r.Span(timing.QueryFirst, 3, 0, nil) }), "Span")
	assert.Zero(t, testing.AllocsPerRun(runs, func() { r.Instant(timing.CoordStart, timing.Process, 5) }), "Instant")
	assert.Len(t, r.Timeline().Marks, 3*(runs+1), "every call recorded")
}

func TestRecorderConcurrent(t *testing.T) {
	const workers, each = 8, 200
	r := timing.NewRecorder("n", 16) // small: appends must grow safely too
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				start := r.Now()
				if i%2 == 0 {
					r.Span(timing.Warmup, w, start, nil)
				} else {
					r.Instant(timing.QueryFirst, w, start)
				}
			}
		})
	}
	wg.Go(func() { // readers while writing
		for range 50 {
			_ = r.Timeline()
			r.SetClockOffset(time.Millisecond, time.Microsecond)
		}
	})
	wg.Wait()

	tl := r.Timeline()
	require.Len(t, tl.Marks, workers*each)
	perWorker := map[int][]timing.Mark{}
	for _, m := range tl.Marks {
		perWorker[m.Worker] = append(perWorker[m.Worker], m)
	}
	for w := range workers {
		ms := perWorker[w]
		require.Len(t, ms, each, "worker %d", w)
		for i := 1; i < len(ms); i++ {
			assert.GreaterOrEqual(t, ms[i].Start, ms[i-1].Start, "a worker's marks keep its order")
			assert.GreaterOrEqual(t, ms[i].End, ms[i].Start)
		}
	}
}

func TestPhases(t *testing.T) {
	ps := timing.Phases()
	assert.Equal(t, timing.PoolInit, ps[0].Phase)
	assert.Len(t, ps, 24)
	seen := map[timing.Phase]bool{}
	for i, p := range ps {
		assert.Equal(t, i, p.Order, "%s", p.Phase)
		assert.False(t, seen[p.Phase], "%s is registered once", p.Phase)
		seen[p.Phase] = true
		assert.Equal(t, p, timing.Lookup(p.Phase))
		assert.NotEmpty(t, p.Class, "%s has a display class", p.Phase)
		assert.NotEqual(t, "unknown", p.Kind.String(), "%s", p.Phase)
	}
	// The run's own steps come first, in run order; the side phases after.
	var steps []timing.Phase
	for _, p := range ps[:14] {
		steps = append(steps, p.Phase)
	}
	assert.Equal(t, []timing.Phase{timing.PoolInit, timing.PoolConn, timing.SetupProfile, timing.CoordRegister,
		timing.CoordWait, timing.CoordStart, timing.HeartbeatRunning, timing.ResultsTestStart, timing.ScaleWarmup,
		timing.QueryFirst, timing.Warmup, timing.Measure, timing.Teardown, timing.ServerHistory}, steps)
	ps[0].Phase = "mutated"
	assert.Equal(t, timing.PoolInit, timing.Phases()[0].Phase, "Phases returns a copy")

	kinds := map[timing.Phase]timing.Kind{
		timing.PoolInit: timing.KindStartup, timing.CoordWait: timing.KindStartup,
		timing.CoordStart: timing.KindInstant, timing.QueryFirst: timing.KindWorker,
		timing.Warmup: timing.KindWindow, timing.Teardown: timing.KindWindow,
		timing.PoolConn: timing.KindMark, timing.SetupRetry: timing.KindMark, timing.Scale: timing.KindMark,
		timing.Fault: timing.KindMark, timing.CoordUnreachable: timing.KindCoord, timing.CoordSeen: timing.KindCoord,
	}
	for p, k := range kinds {
		assert.Equal(t, k, p.Kind(), "%s", p)
	}
}

// A phase the registry does not know, such as a pool's own preparation
// phase, is a startup span of the class "other", after every known phase.
func TestLookupUnknownPhase(t *testing.T) {
	info := timing.Lookup("warehouse.resume")
	assert.Equal(t, timing.PhaseInfo{Phase: "warehouse.resume", Order: len(timing.Phases()),
		Kind: timing.KindStartup, Class: timing.ClassOther}, info)
	assert.Equal(t, "startup", info.Kind.String())
	assert.Equal(t, "unknown", timing.Kind(200).String())
}

// Every mark recorded reaches the observer once, from whichever goroutine
// recorded it, through Record, Span and Instant alike.
func TestRecorderObserve(t *testing.T) {
	r := timing.NewRecorder("n", 0)
	var mu sync.Mutex
	var seen []timing.Mark
	r.Observe(func(m timing.Mark) {
		mu.Lock()
		seen = append(seen, m)
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 50 {
				r.Span(timing.QueryFirst, w, 0, nil)
				r.Instant(timing.CoordSeen, w, 1)
				r.Record(timing.Mark{Phase: timing.Fault, Worker: w})
			}
		})
	}
	wg.Wait()
	assert.Len(t, seen, 4*150)
	assert.ElementsMatch(t, r.Timeline().Marks, seen, "the observer sees what was stored")

	r.Observe(nil)
	r.Instant(timing.CoordStart, timing.Process, 2)
	assert.Len(t, seen, 4*150, "not observed after Observe(nil)")
}

func TestRecorderObserveAllocatesNothing(t *testing.T) {
	r := timing.NewRecorder("n", 1000)
	n := 0
	r.Observe(func(timing.Mark) { n++ })
	allocs := testing.AllocsPerRun(100, func() { r.Span(timing.QueryFirst, 0, 0, nil) })
	assert.Zero(t, allocs)
	assert.Equal(t, 101, n)
}

// The three benchmarks read together: a mark costs about one clock read.
// The recorder benchmarks record into recorders of benchCap marks, replaced
// with the timer stopped when full, so that every measured mark is recorded
// within capacity (the case the zero-allocation promise is about) without
// holding b.N marks in memory.

const benchCap = 1 << 16

var sink time.Duration

func BenchmarkTimeNow(b *testing.B) {
	base := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		sink = time.Since(base)
	}
}

// benchRecorder calls mark b.N times on recorders that never need to grow.
func benchRecorder(b *testing.B, mark func(r *timing.Recorder)) {
	b.ReportAllocs()
	var r *timing.Recorder
	for i := range b.N {
		if i%benchCap == 0 {
			b.StopTimer()
			r = timing.NewRecorder("n", benchCap)
			b.StartTimer()
		}
		mark(r)
	}
}

func BenchmarkRecorderSpan(b *testing.B) {
	benchRecorder(b, func(r *timing.Recorder) { sink = r.Span(timing.QueryFirst, 0, 0, nil) })
}

func BenchmarkRecorderInstant(b *testing.B) {
	benchRecorder(b, func(r *timing.Recorder) { r.Instant(timing.CoordStart, timing.Process, 0) })
}
