package loadtest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/timing"
)

// opTagger is a session that tags its statements, as pool/snowflake's
// does: it keeps what it was told last.
type opTagger struct {
	pool.Session
	phase, op string
	calls     int
}

func (s *opTagger) TagPhase(_ int, phase, op string) { s.phase, s.op = phase, op; s.calls++ }

// The closed loop with a tagging session and a trail (a run whose pool is
// a pool.StatementHistory) allocates nothing either: tagging is a call when
// the operation changes, the trail a store into its ring.
func TestStepWithTrailAllocatesNothing(t *testing.T) {
	rec := timing.NewRecorder("n", 0)
	noop := func(context.Context, *Worker) error { return nil }
	p := &plan{ops: []Operation{{Name: "a", Weight: 1, Run: noop}, {Name: "b", Weight: 1, Run: noop}},
		cumWeights: []int{1, 2}, total: 2, rec: rec, multi: true}
	p.setWindow(never, never)
	tg := &opTagger{}
	w := &Worker{rand: rand.New(rand.NewPCG(1, 2)), cur: newIbuf(2), tagger: tg, trail: newTrail(64)}
	w.tl = w.cur.t
	w.free.Store(newIbuf(2))
	w.refresh(p)
	ctx := context.Background()
	now := rec.Now()
	step := func() {
		w.end = rec.Now() + 20*time.Microsecond
		now = w.loop(ctx, p, now)
	}
	step()
	assert.Zero(t, testing.AllocsPerRun(1000, step))
	// The plan has no measure start: every operation is the warmup's.
	assert.Positive(t, w.trail.n[inWarmup])
	assert.Equal(t, "warmup", tg.phase)
	assert.Less(t, tg.calls, int(w.trail.n[inWarmup]), "tagged only when the operation changed")
}

// A trail keeps the last operations of each phase, oldest first, per
// operation.
func TestTrailKeepsTheLast(t *testing.T) {
	tr := newTrail(5) // rounded up to 8
	for i := range 20 {
		tr.add(inMeasure, i%2, time.Duration(i), i == 19)
	}
	tr.add(inWarmup, 1, 7, false)
	got := tr.byOp(inMeasure, 2)
	assert.Equal(t, []trailEntry{{lat: 12}, {lat: 14}, {lat: 16}, {lat: 18}}, got[0])
	assert.Equal(t, []trailEntry{{lat: 13, op: 1}, {lat: 15, op: 1}, {lat: 17, op: 1}, {lat: 19, op: 1, failed: true}}, got[1])
	assert.Equal(t, [][]trailEntry{nil, {{lat: 7, op: 1}}}, tr.byOp(inWarmup, 2))
	assert.Zero(t, testing.AllocsPerRun(100, func() { tr.add(inWarmup, 0, 1, false) }))
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// alignClient pairs operations with statements from the newest back,
// passes over an operation that failed without reaching the server, and
// stops where the two disagree.
func TestAlignClient(t *testing.T) {
	st := func(elapsed time.Duration, failed bool) *pool.StatementTiming {
		return &pool.StatementTiming{Elapsed: elapsed, Failed: failed}
	}
	var got []time.Duration
	add := func(d time.Duration) { got = append(got, d) }

	ops := []trailEntry{{lat: ms(10)}, {lat: ms(12)}, {lat: ms(9), failed: true}, {lat: ms(20)}}
	alignClient(ops, []*pool.StatementTiming{st(ms(8), false), st(ms(11), false), st(ms(15), false)}, time.Millisecond, add)
	assert.Equal(t, []time.Duration{ms(5), ms(1), ms(2)}, got, "newest first; the lost one passed over")

	got = nil
	ops = []trailEntry{{lat: ms(10)}, {lat: ms(12)}}
	alignClient(ops, []*pool.StatementTiming{st(ms(9), false), st(ms(12), true)}, time.Millisecond, add)
	assert.Empty(t, got, "a failure the client did not see: out of step")

	got = nil
	ops = []trailEntry{{lat: ms(10)}, {lat: ms(5)}}
	alignClient(ops, []*pool.StatementTiming{st(ms(9), false), st(ms(8), false)}, time.Millisecond, add)
	assert.Empty(t, got, "the server's time beyond the client's: out of step")

	got = nil
	ops = []trailEntry{{lat: 4500 * time.Microsecond}}
	alignClient(ops, []*pool.StatementTiming{st(ms(5), false)}, time.Millisecond, add)
	assert.Equal(t, []time.Duration{0}, got, "within the history's resolution, clamped at zero")
}

// Splits merge exactly: counts and sums add, percentiles come from the
// merged histograms.
func TestMergeServer(t *testing.T) {
	a, b := &ServerSplit{Queries: 3, Matched: 3, CacheHits: 1}, &ServerSplit{Queries: 2, Matched: 1, Sampled: true, Failed: 1}
	for _, v := range []int{1, 2, 3} {
		a.QueuedOverload.add(ms(v))
	}
	b.QueuedOverload.add(ms(100))
	for _, s := range []*ServerSplit{a, b} {
		for _, d := range s.dists() {
			d.summarize()
		}
	}
	m := mergeServer(a, b)
	assert.Equal(t, int64(5), m.Queries)
	assert.Equal(t, int64(4), m.Matched)
	assert.True(t, m.Sampled)
	assert.Equal(t, int64(1), m.CacheHits)
	assert.Equal(t, int64(1), m.Failed)
	q := m.QueuedOverload
	assert.Equal(t, int64(4), q.N)
	assert.Equal(t, ms(106), q.Sum)
	assert.InEpsilon(t, float64(ms(2)), float64(q.P50), 0.01)
	assert.InEpsilon(t, float64(ms(100)), float64(q.P99), 0.01)
	assert.Equal(t, int64(3), a.QueuedOverload.Histogram.Count(), "the inputs are left alone")
	assert.Nil(t, mergeServer(nil, nil))
	require.NotNil(t, mergeServer(nil, b))
	assert.Equal(t, b.Matched, mergeServer(nil, b).Matched)
}

// A split survives its JSON (the histograms included), and merging the
// decoded splits of two processes is exact: the sums add, and the merged
// percentiles come from the histograms.
func TestServerSplitJSONAndMerge(t *testing.T) {
	mk := func(node string, vals ...int) *Result {
		sp := &ServerSplit{Queries: int64(len(vals)), Matched: int64(len(vals))}
		for _, v := range vals {
			sp.QueuedOverload.add(ms(v))
			sp.Client.add(ms(1))
		}
		for _, d := range sp.dists() {
			d.summarize()
		}
		return &Result{RunID: "r", Node: node, Operations: map[string]Stats{"op": {Ops: int64(len(vals)), Server: sp}}}
	}
	var decoded []*Result
	for _, r := range []*Result{mk("a", 1, 2, 3), mk("b", 50, 60)} {
		b, err := r.MarshalJSON()
		require.NoError(t, err)
		var back Result
		require.NoError(t, back.UnmarshalJSON(b))
		require.NotNil(t, back.Operations["op"].Server)
		assert.Equal(t, r.Operations["op"].Server.QueuedOverload.Sum, back.Operations["op"].Server.QueuedOverload.Sum)
		assert.Equal(t, r.Operations["op"].Server.QueuedOverload.Histogram.Count(), back.Operations["op"].Server.QueuedOverload.Histogram.Count())
		decoded = append(decoded, &back)
	}
	m, err := Merge(decoded...)
	require.NoError(t, err)
	sp := m.Operations["op"].Server
	require.NotNil(t, sp)
	assert.Equal(t, int64(5), sp.Matched)
	assert.Equal(t, ms(116), sp.QueuedOverload.Sum)
	assert.InEpsilon(t, float64(ms(3)), float64(sp.QueuedOverload.P50), 0.01)
	assert.InEpsilon(t, float64(ms(60)), float64(sp.QueuedOverload.P99), 0.01)
	assert.Equal(t, int64(5), sp.Client.Histogram.Count())
}
