package loadtest

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/startline/startline/internal/precise"
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
	tagger  pool.PhaseTagger // the session, if it tags statements by phase
	profile *profile.Profile
	args    []any        // reused by QueryOp
	phase   timing.Phase // of the operation running now

	// What the tagger was last told (see tag), and the operations kept for
	// the server's split (nil unless the pool is a StatementHistory).
	tagPhase timing.Phase
	tagOp    int
	trail    *trail

	// cur is the interval buffer this goroutine records into (tl is its
	// tallies); it is handed to the collector through full and a recycled
	// one comes back through free (see collect.go).
	cur        *ibuf
	tl         [2][]tally
	epoch      int64 // the interval epoch cur records
	full, free atomic.Pointer[ibuf]

	// The worker's copy of what the Runner may change during a run,
	// reloaded when plan.gen moves (see refresh).
	gen            int64
	measureAt, end time.Duration
	// The ends of the windows an arrival-rate operation is scheduled in:
	// one that ends later completed after its window (Schedule).
	warmupEnd, windowEnd time.Duration

	// A fault in progress (see Faults in the package doc): since the
	// first failed operation after a success, until the next success.
	failing   bool
	faultAt   time.Duration
	faultKind pool.ErrorKind
	faultErr  string
	faults    int // fault spans seen; the first maxFaultMarks are marked
}

// ID is the worker's index, from 0.
func (w *Worker) ID() int { return w.id }

// Rand is the worker's own random source, seeded from Config.Seed.
func (w *Worker) Rand() *rand.Rand { return w.rand }

// Session is the worker's session on the pool, open for the whole run.
func (w *Worker) Session() pool.Session { return w.session }

// setPhase records the phase of the operation about to run.
func (w *Worker) setPhase(ph timing.Phase) { w.phase = ph }

// tag tells a session that tags its statements the phase and the
// operation of the operation about to run, when either changed since it
// last told it.
func (w *Worker) tag(p *plan, op int) {
	if w.tagger != nil && (op != w.tagOp || w.phase != w.tagPhase) {
		w.tagPhase, w.tagOp = w.phase, op
		w.tagger.TagPhase(w.id, string(w.phase), p.ops[op].Name)
	}
}

func asTagger(s pool.Session) pool.PhaseTagger {
	t, _ := s.(pool.PhaseTagger)
	return t
}

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

// never is an offset no run reaches: the measure start of a steady warmup
// before it is known.
const never = time.Duration(math.MaxInt64)

// plan is what every worker reads. The fixed part is set before the gate
// opens; the rest is atomic, so that the Runner's goroutine can move the
// measure start (steady warmup), the target and the interval epoch while
// the workers run, without a lock. A worker keeps a copy and loads only gen
// per operation: every change moves gen on (see signal), and the worker
// then reloads the rest (see Worker.refresh).
type plan struct {
	ops        []Operation
	cumWeights []int // cumulative, for the weighted choice
	total      int
	rec        *timing.Recorder
	hooks      *Hooks
	cls        classifier
	open       bool          // arrival rate
	lateAfter  time.Duration // arrival rate: later than this is late
	startAt    time.Duration // the start instant, set before the gate opens
	multi      bool          // more than one operation to choose from
	// shards are the histograms the workers' full batches go to, per
	// phase and operation (see stats.go); nil (a test's plan) sends them
	// to the workers' own.
	shards [2][]opShards

	gate      chan struct{}                 // closed at the start instant
	gen       atomic.Int64                  // moves on at every change below: the one load per operation
	measureAt atomic.Int64                  // offset; never until a steady warmup ends
	endAt     atomic.Int64                  // measureAt + Duration
	warmupEnd atomic.Int64                  // measureAt, unless Config.DrainWarmup moved the measure start later
	stop      atomic.Bool                   // set to end the run early
	target    atomic.Int64                  // closed loop: the active workers
	rate      atomic.Pointer[rateChange]    // arrival rate, and since when
	epoch     atomic.Int64                  // the current interval; see collect.go
	wake      atomic.Pointer[chan struct{}] // closed and replaced to wake waiting goroutines

	// Arrival rate: the schedule's queue, the operations scheduled and not
	// yet ended, and by phase and operation the operations scheduled
	// (offered) and the dropped ones (set by the pacer only), and by
	// operation those a worker took from the queue (begun). The backlog is
	// offered - dropped - begun (see sample).
	queue    chan release
	inflight atomic.Int64
	offered  [2][]atomic.Int64
	dropped  [2][]atomic.Int64
	begun    []atomic.Int64
	// DrainWarmup: the pacer holds the schedule at the warmup's end until
	// the collector has drained the backlog and set the measure start.
	drainHold atomic.Bool
	// The interval boundary ahead, which the collector sets: the pacer
	// copies offered and dropped into snap when it schedules the first
	// operation at or after it, and then sets snapAt to it, so that an
	// interval's counts are the schedule's at its end, however late the
	// collector reads them (see sample).
	boundary, snapAt atomic.Int64
	snapOffered      [2][]atomic.Int64
	snapDropped      [2][]atomic.Int64
	// begun as it was at three instants that the collector samples: the
	// interval boundary ahead, the measured window's start and its end
	// (the boundary ahead lags when the collector does). The first worker
	// to begin an operation at or after one of them copies the counts
	// (under snapMu) before it counts its own, so that a collector that
	// samples the instant late (a loaded machine) still gets the backlog
	// as it was then, not less the operations begun since (at the end of
	// a window that the system could not keep up with, the drain begins
	// all of them).
	snapMu    sync.Mutex
	begunSnap [3]begunAt
}

// begunAt is the begun counts as they were at instant at (-1: none yet).
type begunAt struct {
	at     atomic.Int64
	counts []atomic.Int64
}

// countBegun counts an operation of op that a worker begins at start,
// first copying the counts for each instant it is the first beginning at
// or after.
func (p *plan) countBegun(op int, start time.Duration) {
	for i, at := range [len(p.begunSnap)]int64{p.boundary.Load(), p.measureAt.Load(), p.endAt.Load()} { // see begunAtInstant
		if sn := &p.begunSnap[i]; int64(start) >= at && sn.at.Load() != at {
			p.snapMu.Lock()
			if sn.at.Load() != at {
				for j := range p.begun {
					sn.counts[j].Store(p.begun[j].Load())
				}
				sn.at.Store(at)
			}
			p.snapMu.Unlock()
		}
	}
	p.begun[op].Add(1)
}

// begunAtInstant returns the begun counts copied at instant at, or nil.
// The window's end and start come first: they are known before they
// pass, while a boundary the collector set late was copied late.
func (p *plan) begunAtInstant(at time.Duration) []atomic.Int64 {
	for _, i := range [...]int{2, 1, 0} {
		if sn := &p.begunSnap[i]; sn.at.Load() == int64(at) {
			return sn.counts
		}
	}
	return nil
}

// snapshot copies the schedule's counts as they are at boundary b.
func (p *plan) snapshot(b time.Duration) {
	for ph := range p.offered {
		for i := range p.offered[ph] {
			p.snapOffered[ph][i].Store(p.offered[ph][i].Load())
			p.snapDropped[ph][i].Store(p.dropped[ph][i].Load())
		}
	}
	p.snapAt.Store(int64(b))
}

// release is one scheduled operation, as the pacer queues it: scheduled at
// at, released at rel, operation op.
type release struct {
	at, rel time.Duration
	op      int
}

func (p *plan) measureStart() time.Duration { return time.Duration(p.measureAt.Load()) }
func (p *plan) end() time.Duration          { return time.Duration(p.endAt.Load()) }

// setWindow sets the measure start and end together (and the warmup's
// end, at the measure start).
func (p *plan) setWindow(measureAt, endAt time.Duration) {
	p.warmupEnd.Store(int64(measureAt))
	p.measureAt.Store(int64(measureAt))
	p.endAt.Store(int64(endAt))
}

// moveMeasure moves the measured window to start at measureAt, after a
// drained warmup: the warmup's end stays.
func (p *plan) moveMeasure(measureAt, endAt time.Duration) {
	p.measureAt.Store(int64(measureAt))
	p.endAt.Store(int64(endAt))
}

// phaseOf is the phase of an operation that starts (or was scheduled to
// start) at t.
func (p *plan) phaseOf(t time.Duration) int {
	if t < p.measureStart() {
		return inWarmup
	}
	return inMeasure
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

// signal publishes a change of the plan: it moves gen on, so that running
// workers reload it at their next operation, and wakes every goroutine
// waiting on the wake channel: parked workers, idle arrival-rate workers
// and the pacer. Whoever changes the plan stores the change first.
func (p *plan) signal() {
	p.gen.Add(1)
	ch := make(chan struct{})
	old := p.wake.Swap(&ch)
	close(*old)
}

// setTarget changes the number of active workers and wakes parked ones.
func (p *plan) setTarget(n int) {
	p.target.Store(int64(n))
	p.signal()
}

// rateChange is an arrival rate, in operations per second, in effect for
// the starts scheduled from at on.
type rateChange struct {
	rate float64
	at   time.Duration
}

// setRate changes the arrival rate to r from instant at, and wakes the
// pacer.
func (p *plan) setRate(r float64, at time.Duration) {
	p.rate.Store(&rateChange{r, at})
	p.signal()
}

func (p *plan) currentRate() float64 { return p.rate.Load().rate }

// refresh reloads the worker's copy of the plan and hands its interval
// buffer over if the interval ended. gen is loaded first: the values read
// after it are at least as new as the change it announces.
func (w *Worker) refresh(p *plan) {
	w.gen = p.gen.Load()
	w.measureAt, w.end = p.measureStart(), p.end()
	w.warmupEnd, w.windowEnd = time.Duration(p.warmupEnd.Load()), w.end
	if p.stop.Load() {
		w.end = 0
	}
	if e := p.epoch.Load(); e != w.epoch {
		w.rotate(e)
	}
}

// run is the worker's loop: from the gate to the end of the measured window.
func (w *Worker) run(ctx context.Context, p *plan) {
	select {
	case <-p.gate:
	case <-ctx.Done():
		return
	}
	defer w.endFault(p.rec, -1)
	w.refresh(p)
	if p.open {
		w.serve(ctx, p)
		return
	}
	now := p.rec.Now()
	if now >= w.end {
		return
	}
	if int64(w.id) < p.target.Load() {
		now = w.first(ctx, p, release{}, now)
	}
	for {
		w.refresh(p)
		if now >= w.end {
			return
		}
		if int64(w.id) >= p.target.Load() {
			if !w.park(ctx, p) {
				return
			}
			now = p.rec.Now()
			continue
		}
		if now = w.loop(ctx, p, now); ctx.Err() != nil {
			return
		}
	}
}

// first runs the worker's first operation, r (arrival rate) or one it
// picks (closed loop), started at start, marked query.first from start.
func (w *Worker) first(ctx context.Context, p *plan, r release, start time.Duration) time.Duration {
	p.hooks.start(timing.QueryFirst, w.id, start)
	var err error
	var end time.Duration
	if p.open {
		end, err = w.stepOpen(ctx, p, r, start)
	} else {
		end, err = w.do(ctx, p, start)
	}
	m := timing.Mark{Phase: timing.QueryFirst, Worker: w.id, Start: start, End: end}
	if err != nil {
		m.Err = err.Error()
	}
	p.rec.Record(m)
	p.hooks.done(timing.QueryFirst, w.id, start, end, err)
	return end
}

// loop is the closed loop's hot path: it runs operations from now until
// the window ends or the plan changes, and returns the time it stopped.
// Per operation it reads the clock once (an operation's end is the next
// one's start), loads one atomic (plan.gen), takes no lock and allocates
// nothing: the counts go to the worker's own interval buffer (and, for the
// server's split, one store into its preallocated trail).
func (w *Worker) loop(ctx context.Context, p *plan, now time.Duration) time.Duration {
	gen, end, measureAt := w.gen, w.end, w.measureAt
	rec, ops, multi := p.rec, p.ops, p.multi
	// Kept in locals: what does not change within the loop (the trail,
	// whether the session tags), and the fault state, which only settle
	// changes. Each is a load from w per operation otherwise.
	trail, tagging, failing := w.trail, w.tagger != nil, w.failing
	phase := inMeasure
	if now < measureAt {
		phase = inWarmup
	}
	w.setPhase(phaseNames[phase])
	tl, op := w.tl[phase], 0
	run, t := ops[0].Run, &tl[0]
	for now < end && p.gen.Load() == gen {
		if phase == inWarmup && now >= measureAt {
			phase, tl, t = inMeasure, w.tl[inMeasure], &w.tl[inMeasure][op]
			w.setPhase(timing.Measure)
		}
		if multi {
			op = p.pick(w.rand)
			run, t = ops[op].Run, &tl[op]
		}
		if tagging {
			w.tag(p, op)
		}
		err := run(ctx, w)
		n := rec.Now()
		if trail != nil {
			trail.add(phase, op, n-now, err != nil)
		}
		// tally.record, by hand: the compiler does not inline it. A
		// success after failures also ends a fault span.
		if d := n - now; err == nil && !failing && d <= t.max && t.lat.n < batchLen {
			t.lat.batch[t.lat.n] = int64(d)
			t.lat.n++
		} else {
			w.settle(p, t, d, now, n, err)
			failing = w.failing
			if err != nil && ctx.Err() != nil {
				// The run was cancelled: stop now rather than fail every
				// operation until the Runner's stop flag arrives.
				return n
			}
		}
		now = n
	}
	return now
}

// do runs one closed-loop operation that starts at now.
func (w *Worker) do(ctx context.Context, p *plan, now time.Duration) (time.Duration, error) {
	end, _, err := w.runOne(ctx, p, now, now, p.pick(w.rand))
	return end, err
}

// runOne runs operation op scheduled at at and started at start, and
// records it in the phase at belongs to, with its latency measured from
// at: for an arrival-rate operation the wait for a worker counts. It
// returns the operation's end and the tally it went to.
func (w *Worker) runOne(ctx context.Context, p *plan, at, start time.Duration, op int) (time.Duration, *tally, error) {
	phase := inMeasure
	if at < w.measureAt {
		phase = inWarmup
	}
	w.setPhase(phaseNames[phase])
	w.tag(p, op)
	err := p.ops[op].Run(ctx, w)
	end := p.rec.Now()
	if w.trail != nil {
		w.trail.add(phase, op, end-at, err != nil)
	}
	t := &w.tl[phase][op]
	if err == nil && !w.failing {
		t.record(end-at, nil, 0)
	} else {
		w.settle(p, t, end-at, start, end, err)
	}
	return end, t, err
}

// settle records an operation that is off the fast path, because it failed
// or a fault is open, into t, and follows faults. A failure is classified
// here, once, for its count and for its fault. The operation took d (its
// latency), from start to end.
func (w *Worker) settle(p *plan, t *tally, d, start, end time.Duration, err error) {
	var k pool.ErrorKind
	if err != nil {
		k = p.cls.kind(err)
	}
	t.recordSlow(d, err, k)
	w.track(p.rec, start, end, err, k)
}

var phaseNames = [2]timing.Phase{timing.Warmup, timing.Measure}

// maxFaultMarks bounds the fault marks of one worker, so that a run that
// fails on and off cannot fill the timeline.
const maxFaultMarks = 16

// track follows faults: an operation that failed from start to end with
// an error of kind k opens a fault span (unless one is open, or the error
// is the statement's own or the run's cancellation), and a success closes
// the open one. It is called only after a failure or while a fault is
// open: never on the usual path.
func (w *Worker) track(rec *timing.Recorder, start, end time.Duration, err error, k pool.ErrorKind) {
	switch {
	case err == nil:
		w.endFault(rec, end)
	case !w.failing:
		if k == pool.KindSQL || k == pool.KindCanceled {
			return
		}
		w.failing, w.faultAt, w.faultKind, w.faultErr = true, start, k, err.Error()
	}
}

// endFault closes the open fault span, if any, at end: recovered by a
// success, or, when end is negative, not recovered by the time the worker
// stopped.
func (w *Worker) endFault(rec *timing.Recorder, end time.Duration) {
	if !w.failing {
		return
	}
	w.failing = false
	detail := w.faultKind.String()
	if end < 0 {
		end, detail = rec.Now(), detail+" (not recovered)"
	}
	if w.faults++; w.faults <= maxFaultMarks {
		rec.Record(timing.Mark{Phase: timing.Fault, Worker: w.id, Start: w.faultAt, End: end, Detail: detail, Err: w.faultErr})
	}
	w.faultErr = ""
}

// park waits while the worker is beyond the target concurrency, handing
// its interval buffer over at each interval's end. It reports false when
// the run ended meanwhile.
func (w *Worker) park(ctx context.Context, p *plan) bool {
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for int64(w.id) >= p.target.Load() {
		ch := *p.wake.Load()
		w.refresh(p)
		if int64(w.id) < p.target.Load() {
			break
		}
		remaining := w.end - p.rec.Now()
		if remaining <= 0 {
			return false
		}
		if t == nil {
			t = time.NewTimer(remaining)
		} else {
			t.Reset(remaining)
		}
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// serve is an arrival-rate worker's loop: it takes scheduled start times
// from the queue until the pacer closes it. Latency runs from the
// scheduled start, not from when a worker got to the operation, so a
// stall shows in the latencies of every operation it delayed (no
// coordinated omission).
func (w *Worker) serve(ctx context.Context, p *plan) {
	firstDone := false
	for {
		wake := *p.wake.Load()
		var r release
		var ok bool
		select {
		case r, ok = <-p.queue:
			if !ok {
				return
			}
		case <-wake:
			w.refresh(p)
			continue
		case <-ctx.Done():
			return
		}
		if p.gen.Load() != w.gen {
			w.refresh(p)
		}
		start := p.rec.Now()
		p.countBegun(r.op, start)
		if w.end == 0 {
			p.inflight.Add(-1)
			continue // stopped: what is queued is not run
		}
		if !firstDone {
			firstDone = true
			w.first(ctx, p, r, start)
		} else {
			_, _ = w.stepOpen(ctx, p, r, start)
		}
		p.inflight.Add(-1)
	}
}

// stepOpen runs the arrival-rate operation r, started at start, and
// returns its end. It belongs to the phase it was scheduled in, and
// completed after that phase's window if it ended after the window.
func (w *Worker) stepOpen(ctx context.Context, p *plan, r release, start time.Duration) (time.Duration, error) {
	end, t, err := w.runOne(ctx, p, r.at, start, r.op)
	windowEnd, carried := w.windowEnd, false
	if r.at < w.measureAt {
		windowEnd = w.warmupEnd
		// Scheduled in the warmup, completed inside the measured window:
		// part of what the measured window achieved.
		carried = end >= w.measureAt && end <= w.windowEnd
	}
	t.recordQueue(r.rel-r.at, start-r.rel, start-r.at > p.lateAfter, end > windowEnd, carried, err == nil)
	return end, err
}

// arrivals spaces an arrival-rate run's operations: evenly, or as a
// Poisson process drawn from the run's own random source, so that a seed
// gives the same schedule every time; and picks each one's operation from
// a source of its own.
type arrivals struct {
	poisson bool
	r, ops  *rand.Rand
}

func newArrivals(seed uint64, poisson bool) arrivals {
	return arrivals{poisson: poisson,
		r:   rand.New(rand.NewPCG(seed, math.MaxUint64)),
		ops: rand.New(rand.NewPCG(seed, math.MaxUint64-1))}
}

// pick chooses the next scheduled operation.
func (a arrivals) pick(p *plan) int { return p.pick(a.ops) }

// gap is the time from one scheduled start to the next at rate operations
// per second: 1/rate, or an exponential draw of that mean.
func (a arrivals) gap(rate float64) time.Duration {
	g := 1 / rate
	if a.poisson {
		g = a.r.ExpFloat64() / rate
	}
	return time.Duration(g * float64(time.Second))
}

// pace is the arrival-rate schedule: it computes each operation's
// scheduled start from the current rate, picks its operation, and releases
// it to the queue when it is due, dropping (and counting) what exceeds the
// in-flight bound. It waits for each release with precise.Sleep (a kernel
// sleep to shortly before the instant, then a short spin: a Go timer would
// wake it hundreds of microseconds late), and a wait longer than
// precise.MaxSleep begins on a timer that a rate change or the context
// can interrupt. At rates whose gaps are shorter than a wake-up it queues
// all that are due each time it wakes (a batch); their latency still
// counts from their own scheduled start, and their release time is
// recorded apart (sched_lag). It closes the queue when the window ends or
// the run stops.
func (p *plan) pace(ctx context.Context, maxInFlight int64, arr arrivals) {
	defer close(p.queue)
	select {
	case <-p.gate:
	case <-ctx.Done():
		return
	}
	gap := arr.gap
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	cur := p.rate.Load()
	next, rate := p.startAt, cur.rate
	last := next // the last start scheduled
	for !p.stop.Load() {
		// Taken before the rate is read: a change after the read closes it.
		wake := *p.wake.Load()
		now := p.rec.Now()
		// A change of rate applies to the starts from its instant on: a
		// pacer that learns of it late (a loaded machine) first schedules
		// the starts before it at the old rate, then follows the new one
		// from the last start (or from the change, if there was none to
		// follow), so the schedule is the one the changes made.
		until := never
		if ch := p.rate.Load(); ch != cur {
			if rate > 0 && next < ch.at {
				until = ch.at
			} else {
				if rate <= 0 {
					last = max(last, min(ch.at, now))
				}
				cur, rate = ch, ch.rate
				if rate > 0 {
					next = last + gap(rate)
				}
			}
		}
		end := p.end()
		if next >= end {
			return
		}
		hold := never
		if p.drainHold.Load() {
			// Config.DrainWarmup: nothing is scheduled from the warmup's
			// end until the collector has moved the measure start; the
			// schedule then resumes there.
			hold = time.Duration(p.warmupEnd.Load())
			if next >= hold {
				select {
				case <-wake:
				case <-ctx.Done():
					return
				}
				if !p.drainHold.Load() {
					next, last = p.measureStart(), p.measureStart()
				}
				continue
			}
		}
		b := time.Duration(p.boundary.Load())
		if time.Duration(p.snapAt.Load()) == b {
			b = never // copied already
		}
		if rate > 0 {
			for next <= now && next < end && next < hold && next < until {
				if next >= b {
					p.snapshot(b)
					b = never
				}
				ph := p.phaseOf(next)
				op := arr.pick(p)
				p.offered[ph][op].Add(1)
				if p.inflight.Add(1) > maxInFlight {
					p.inflight.Add(-1)
					p.dropped[ph][op].Add(1)
				} else {
					p.queue <- release{at: next, rel: now, op: op} // cannot block: the queue holds maxInFlight
				}
				last = next
				next += gap(rate)
			}
		}
		if until != never && next >= until {
			continue // the old rate's starts are scheduled: apply the change
		}
		target := min(next, end, hold)
		if rate <= 0 {
			target = min(end, hold)
		}
		wait := target - now
		if wait <= 0 {
			continue
		}
		if rate > 0 && wait <= precise.MaxSleep {
			precise.Sleep(p.rec.Time(target))
			continue
		}
		if rate > 0 {
			wait -= precise.MaxSleep / 2 // the rest precisely, above
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-wake: // the rate may have changed: see the loop's top
		case <-ctx.Done():
			return
		}
	}
}
