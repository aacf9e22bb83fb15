package loadtest

import (
	"math"
	"slices"
	"time"
)

// How the interval statistics reach the Runner without a lock per
// operation.
//
// Each worker owns two interval buffers (ibuf): it records every operation
// into the one it holds (cur), with no synchronisation at all. The Runner's
// goroutine (the collector) ends an interval by incrementing plan.epoch.
// Each worker loads the epoch once per operation (an atomic load, a plain
// read on amd64); when it has moved on, the worker publishes cur through
// its full pointer and takes the spare from its free pointer. A little
// after the interval's end (the grace, a quarter interval) the collector
// swaps every worker's full pointer to nil, merges what it got into the
// interval's totals, resets the buffers and puts them back in free.
//
// The atomic pointer swaps order the worker's writes before the
// collector's reads and the collector's reset before the worker's next
// writes, so a buffer is only ever touched by one goroutine at a time:
// that is what `go test -race` checks. Only the handover is atomic, once
// per worker per interval.
//
// A worker that has not handed over by the grace (it is inside a long
// operation) keeps its buffer; it hands it over after that operation, and
// the collector counts it in the interval it is collecting then. If the
// collector has not taken the last buffer yet, the worker goes on
// recording into cur. Either way nothing is lost: the phase totals are the
// sum of everything collected, merged losslessly (HdrHistogram counts
// add), and the last buffers are collected after the workers stop.

// ibuf is one worker's statistics since it last handed them over:
// t[phase][op].
type ibuf struct{ t [2][]tally }

func newIbuf(nops int) *ibuf {
	b := &ibuf{}
	for ph := range b.t {
		// Each tally ends in padding, which keeps other goroutines' data
		// off the cache lines this worker writes for every operation.
		b.t[ph] = make([]tally, nops)
	}
	return b
}

// share makes the buffer's full batches go to sh's shared histograms,
// from shard first on (see stats.go).
func (b *ibuf) share(sh *[2][]opShards, first int) {
	for ph := range b.t {
		for i := range b.t[ph] {
			b.t[ph][i].share(sh[ph][i], first)
		}
	}
}

// opShards are the shared histograms of one (phase, operation).
type opShards struct{ lat, queue, lag *shardSet }

func (b *ibuf) reset() {
	for ph := range b.t {
		for i := range b.t[ph] {
			b.t[ph][i].reset()
		}
	}
}

// rotate hands cur to the collector because the epoch moved on to e.
func (w *Worker) rotate(e int64) {
	if w.full.Load() != nil {
		return // not collected yet: keep recording into cur
	}
	nb := w.free.Swap(nil)
	if nb == nil {
		return
	}
	w.full.Store(w.cur)
	w.cur, w.tl, w.epoch = nb, nb.t, e
}

// ivMeta describes an interval that has ended and awaits collection.
type ivMeta struct {
	start, end         time.Duration
	phase              int // the window it lies in
	elapsed, remaining time.Duration
	target             float64
	from, to           *sample // arrival rate: the schedule's counters at start and end
}

// collector is the Runner's side: the totals of the interval being
// collected and of each phase.
type collector struct {
	iv, agg     [2][]tally
	ivDropped   [2]int64
	last        *sample       // arrival rate: the counters at the current interval's start
	win         [2][2]*sample // arrival rate: the counters at each window's start and end
	halted      *sample       // arrival rate: the counters when the run was stopped
	all         tally         // scratch: an interval's operations merged
	pending     []ivMeta
	intervals   []Interval
	steady      []steadySample
	examined    int
	decided     bool
	endedBy     string
	gatherDue   bool
	gatherAt    time.Duration
	ivStart     time.Duration
	inWarmupWin bool
	target      float64
}

type steadySample struct{ p50, p99, tput float64 }

func (c *collector) init(nops int) {
	for ph := range c.iv {
		c.iv[ph] = make([]tally, nops)
		c.agg[ph] = make([]tally, nops)
	}
}

// gather takes every buffer the workers handed over, and what their full
// batches put in the shared histograms (see stats.go).
func (ru *run) gather() {
	for _, w := range ru.workers {
		if b := w.full.Swap(nil); b != nil {
			ru.absorb(b)
			b.reset()
			w.free.Store(b)
		}
	}
	if ru.plan == nil {
		return
	}
	for ph := range ru.plan.shards {
		for i, ss := range ru.plan.shards[ph] {
			t := &ru.col.iv[ph][i]
			ss.lat.drainInto(&t.lat.hist)
			if ss.queue != nil {
				ss.queue.drainInto(&t.q().hist)
				ss.lag.drainInto(&t.l().hist)
			}
		}
	}
}

// absorbAll takes every buffer, including those the workers hold: only
// after the workers have stopped.
func (ru *run) absorbAll() {
	ru.gather()
	for _, w := range ru.workers {
		ru.absorb(w.cur)
		w.cur.reset()
	}
}

func (ru *run) absorb(b *ibuf) {
	for ph := range b.t {
		for i := range b.t[ph] {
			if t := &b.t[ph][i]; t.count() > 0 {
				ru.col.iv[ph][i].merge(t)
			}
		}
	}
}

// emit turns what was collected into the Interval entries of m, adds them
// to the phase totals and calls the Interval hook.
func (ru *run) emit(m ivMeta) {
	c := &ru.col
	for ph := range c.ivDropped {
		c.ivDropped[ph] = 0
		if m.from != nil {
			c.ivDropped[ph] = droppedBetween(m.from, m.to, ph)
		}
	}
	ops := ru.cfg.Workload.Operations
	d := m.end - m.start
	for ph := range c.iv {
		if ph > m.phase {
			// Measured operations recorded before their worker noticed
			// the warmup's end: they wait for the first measured interval.
			continue
		}
		c.all.reset()
		for i := range ops {
			c.all.merge(&c.iv[ph][i])
		}
		n := c.all.count()
		if ph != m.phase && n == 0 && c.ivDropped[ph] == 0 {
			continue
		}
		iv := Interval{
			Start: m.start, Duration: d, Phase: phaseNames[ph],
			Ops: n, Errors: c.all.errs,
			Late: c.all.late, Dropped: c.ivDropped[ph],
			Target: m.target, Elapsed: m.elapsed, Remaining: m.remaining,
		}
		ok := n - c.all.errs
		if ph == inMeasure {
			// Operations that ended after the window (in the drain) are
			// counted in the last interval, but did not complete in it.
			ok -= c.all.afterOK
		}
		iv.Throughput = rate(ok, d)
		if h := c.all.lat.hist; h != nil && h.TotalCount() > 0 {
			iv.Latency = latencyOf(h, c.all.max)
		}
		iv.Queue, iv.SchedLag = summary(c.all.queue), summary(c.all.lag)
		tol := ru.cfg.OverloadTolerance
		if m.from != nil && ph == m.phase {
			l := load(m.from, m.to, ph, -1)
			l.judge(iv.Throughput, d, tol)
			iv.Load = &l
		}
		if len(ops) > 1 || n > 0 || iv.Load != nil {
			iv.Operations = make(map[string]IntervalOp, len(ops))
			for i, op := range ops {
				t := &c.iv[ph][i]
				io := IntervalOp{Ops: t.count(), Errors: t.errs}
				if h := t.lat.hist; h != nil && h.TotalCount() > 0 {
					io.Latency = latencyOf(h, t.max)
				}
				if iv.Load != nil {
					l := load(m.from, m.to, ph, i)
					l.judge(rate(io.Ops-io.Errors, d), d, tol)
					io.Load = &l
				}
				iv.Operations[op.Name] = io
			}
		}
		if ru.stream != nil {
			ru.stream.offer(ru.streamRecord(iv, ph))
		}
		for i := range ops {
			c.agg[ph][i].merge(&c.iv[ph][i])
			c.iv[ph][i].reset()
		}
		c.intervals = append(c.intervals, iv)
		if ru.hooks.Interval != nil {
			ru.hooks.Interval(iv)
		}
		if ph == inWarmup && m.phase == inWarmup && d == ru.cfg.Interval {
			ru.checkSteady(iv)
		}
	}
}

// checkSteady looks at one more full warmup interval and, if the last
// Steady.Intervals agree within the tolerance, ends the warmup at the next
// interval boundary (which is still ahead: no operation already started
// changes phase).
func (ru *run) checkSteady(iv Interval) {
	s, c := ru.cfg.Steady, &ru.col
	if s == nil || c.decided {
		return
	}
	c.examined++
	c.steady = append(c.steady, steadySample{float64(iv.Latency.P50), float64(iv.Latency.P99), iv.Throughput})
	if len(c.steady) > s.Intervals {
		c.steady = slices.Delete(c.steady, 0, 1)
	}
	if len(c.steady) < s.Intervals || iv.Ops == 0 {
		return
	}
	for _, f := range []func(steadySample) float64{
		func(x steadySample) float64 { return x.p50 },
		func(x steadySample) float64 { return x.p99 },
		func(x steadySample) float64 { return x.tput },
	} {
		if spread(c.steady, f) > s.Tolerance {
			return
		}
	}
	c.decided, c.endedBy = true, EndedBySteady
	now := ru.rec.Now()
	at := c.ivStart + ru.cfg.Interval
	for at <= now {
		at += ru.cfg.Interval
	}
	if at < ru.measureAt {
		ru.measureAt = at
		ru.plan.setWindow(at, at+ru.cfg.Duration)
		ru.plan.signal()
	}
}

// spread is (max - min) / mean of f over xs.
func spread(xs []steadySample, f func(steadySample) float64) float64 {
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	for _, x := range xs {
		v := f(x)
		lo, hi, sum = min(lo, v), max(hi, v), sum+v
	}
	mean := sum / float64(len(xs))
	if mean == 0 {
		return 0
	}
	return (hi - lo) / mean
}

// meta describes the interval from the collector's start to at, whose
// schedule counters (arrival rate) read to at its end; it makes to the
// next interval's start.
func (ru *run) meta(at time.Duration, to *sample) ivMeta {
	c := &ru.col
	m := ivMeta{start: c.ivStart, end: at, phase: inMeasure, target: c.target, from: c.last, to: to}
	if to == nil {
		m.from = nil
	} else {
		c.last = to
	}
	if c.inWarmupWin {
		m.phase = inWarmup
		m.elapsed, m.remaining = at-ru.startAt, ru.measureAt-at
	} else {
		m.elapsed, m.remaining = at-ru.measureAt, max(0, ru.plan.end()-at)
	}
	return m
}

// finish collects what the stopped workers still hold and emits the last
// intervals. It is called once every worker goroutine has returned.
func (ru *run) finish() {
	if ru.plan == nil || !ru.started {
		return
	}
	c := &ru.col
	// What was handed over belongs to the earliest interval waiting.
	ru.gather()
	for len(c.pending) > 1 {
		ru.emit(c.pending[0])
		c.pending = c.pending[1:]
	}
	if end := ru.stoppedAt; end > c.ivStart {
		// Stopped within an interval: it ends at the stop.
		for _, m := range c.pending {
			ru.emit(m)
		}
		c.pending = []ivMeta{ru.meta(end, c.halted)}
	}
	// The workers stopped at the window's end (or the stop) without
	// handing over their last buffers; operations that ended during the
	// drain land in the last interval too.
	ru.absorbAll()
	if n := len(c.pending); n > 0 && c.pending[n-1].to != nil {
		// The pacer has stopped: what it offered and dropped until the
		// end is final (it may have released the window's last operations
		// after the collector read the counters at the end); what had
		// begun is as it was at the end, and the backlog follows.
		last := &c.pending[n-1]
		fin := ru.plan.sample(-1)
		fin.begun = last.to.begun
		fin.setBacklog()
		last.to = fin
	}
	for _, m := range c.pending {
		ru.emit(m)
	}
	c.pending = nil
	if ru.hasPending() { // cannot happen: kept so that nothing is ever lost
		ru.emit(ivMeta{start: c.ivStart, end: c.ivStart, phase: ru.phaseAtEnd()})
	}
}

func (ru *run) hasPending() bool {
	for ph := range ru.col.iv {
		for i := range ru.col.iv[ph] {
			if ru.col.iv[ph][i].count() > 0 {
				return true
			}
		}
	}
	return false
}

func (ru *run) phaseAtEnd() int {
	if ru.col.inWarmupWin {
		return inWarmup
	}
	return inMeasure
}

// rate is n per second of d.
func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
