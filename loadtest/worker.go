package loadtest

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/profile"
	"github.com/startline/startline/timing"
)

// Worker is the state of one worker goroutine, handed to every operation it
// runs. It is used by that goroutine only.
type Worker struct {
	id      int
	rand    *rand.Rand
	session pool.Session
	profile *profile.Profile
	args    []any        // reused by QueryOp
	phase   timing.Phase // of the operation running now

	// tallies[phase][op]: phase 0 is warmup, 1 is measure.
	tallies [2][]tally
}

// ID is the worker's index, from 0.
func (w *Worker) ID() int { return w.id }

// Rand is the worker's own random source, seeded from Config.Seed.
func (w *Worker) Rand() *rand.Rand { return w.rand }

// Session is the worker's session on the pool, open for the whole run.
func (w *Worker) Session() pool.Session { return w.session }

// Phase is the phase of the operation the worker is running now:
// timing.Warmup or timing.Measure. An operation may use it, for example, to
// tag its statements so that the database's own query history can tell
// warmup from measurement.
func (w *Worker) Phase() timing.Phase { return w.phase }

// Profile is the profile of the workload's tables; nil when the workload
// names none.
func (w *Worker) Profile() *profile.Profile { return w.profile }

const (
	inWarmup  = 0
	inMeasure = 1
)

// plan is what every worker reads, fixed before the gate opens.
type plan struct {
	ops        []Operation
	cumWeights []int // cumulative, for the weighted choice
	total      int
	rec        *timing.Recorder
	hooks      hookTable

	gate      chan struct{} // closed at the start instant
	measureAt time.Duration // set before gate closes
	endAt     time.Duration
	stop      atomic.Bool // set to end the run early
	target    atomic.Int64
	scaled    atomic.Pointer[chan struct{}] // closed and replaced when target changes
}

// pick chooses an operation in proportion to its weight.
func (p *plan) pick(r *rand.Rand) int {
	if len(p.ops) == 1 {
		return 0
	}
	n := r.IntN(p.total)
	for i, c := range p.cumWeights {
		if n < c {
			return i
		}
	}
	return len(p.ops) - 1
}

// setTarget changes the number of active workers and wakes parked ones.
func (p *plan) setTarget(n int) {
	p.target.Store(int64(n))
	ch := make(chan struct{})
	old := p.scaled.Swap(&ch)
	close(*old)
}

// run is the worker's loop: from the gate to the end of the measured window.
// An operation belongs to the phase in which it started. The clock is read
// once per operation: an operation's end is the next one's start.
func (w *Worker) run(ctx context.Context, p *plan) {
	select {
	case <-p.gate:
	case <-ctx.Done():
		return
	}
	now := p.rec.Now()
	first := true
	for !p.stop.Load() && now < p.endAt {
		if int64(w.id) >= p.target.Load() {
			if !w.park(ctx, p) {
				return
			}
			now = p.rec.Now()
			continue
		}
		phase := inMeasure
		w.phase = timing.Measure
		if now < p.measureAt {
			phase = inWarmup
			w.phase = timing.Warmup
		}
		op := p.pick(w.rand)
		if first {
			p.hooks.start(timing.QueryFirst, w.id, now)
		}
		err := p.ops[op].Run(ctx, w)
		end := p.rec.Now()
		w.tallies[phase][op].record(end-now, err)
		if first {
			first = false
			m := timing.Mark{Phase: timing.QueryFirst, Worker: w.id, Start: now, End: end}
			if err != nil {
				m.Err = err.Error()
			}
			p.rec.Record(m)
			p.hooks.done(timing.QueryFirst, w.id, now, end, err)
		}
		now = end
	}
}

// park waits while the worker is beyond the target concurrency. It reports
// false when the run ended meanwhile.
func (w *Worker) park(ctx context.Context, p *plan) bool {
	for int64(w.id) >= p.target.Load() {
		ch := *p.scaled.Load()
		if int64(w.id) < p.target.Load() {
			break
		}
		remaining := p.endAt - p.rec.Now()
		if remaining <= 0 || p.stop.Load() {
			return false
		}
		t := time.NewTimer(remaining)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		t.Stop()
	}
	return true
}
