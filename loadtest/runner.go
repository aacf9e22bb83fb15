package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/internal/backoff"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/profile"
	"github.com/startline/startline/timing"
)

// Runner runs a load test described by a Config. A Runner may run many
// times, one run at a time; each run warms the pool again, profiles again
// and produces its own Result.
type Runner struct {
	cfg        Config
	thresholds []Threshold
	// The pool's optional capabilities, discovered once.
	preparer  pool.Preparer
	describer pool.Describer
	history   pool.StatementHistory
	cls       classifier // with the pool's pool.Classifier, if it is one
	mu        sync.Mutex // held for the whole of a run
}

// New validates cfg, fills in its defaults and returns a Runner. The error
// names the first invalid field and matches ErrInvalidConfig.
func New(cfg Config) (*Runner, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg.Workload.Operations = append([]Operation(nil), cfg.Workload.Operations...)
	cfg.Workload.Tables = append([]profile.TableSpec(nil), cfg.Workload.Tables...)
	cfg.Sinks = append([]Sink(nil), cfg.Sinks...)
	ths, err := parseThresholds(cfg)
	if err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, thresholds: ths}
	r.preparer, _ = cfg.Pool.(pool.Preparer)
	r.describer, _ = cfg.Pool.(pool.Describer)
	if cfg.HistoryLimit > 0 {
		r.history, _ = cfg.Pool.(pool.StatementHistory)
	}
	r.cls.pool, _ = cfg.Pool.(pool.Classifier)
	return r, nil
}

// Run runs the load test: it warms the pool, profiles the tables, waits for
// the start signal, runs the warmup and the measured window, and tears
// down. It returns the Result even when a phase fails, with the timeline up
// to the failure, and an error (a *PhaseError, or several joined) naming
// the phase and worker.
//
// Cancelling ctx ends the run early: workers stop, what was measured so far
// is kept and written to the sinks, and Run returns the context's error.
func (r *Runner) Run(ctx context.Context) (*Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg := r.cfg
	if cfg.RunID == "" {
		cfg.RunID = "run-" + time.Now().UTC().Format("20060102T150405.000000")
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64() | 1
	}
	ru := &run{
		cfg:      cfg,
		hooks:    cfg.Hooks,
		cls:      r.cls,
		preparer: r.preparer,
		history:  r.history,
		rec:      timing.NewRecorder(cfg.Node, 32+cfg.Conns+2*cfg.maxWorkers()+2*len(cfg.Stages)),
	}
	if cfg.Hooks.Mark != nil {
		// Every mark, the Runner's and those others record on its
		// timeline (the coordinator member's), reaches the hook this way.
		ru.rec.Observe(cfg.Hooks.Mark)
	}
	ru.startStream(ctx)
	err := ru.execute(ctx)
	// The workers have stopped: the server's history is read now, never
	// while they run (see server.go).
	h := ru.readServer(ctx)
	res := ru.result()
	if ru.stream != nil {
		res.Stream = ru.stream.stop()
	}
	ru.joinServer(res, h)
	res.Thresholds = evaluate(r.thresholds, res)
	if r.describer != nil {
		res.Pool = r.describer.Describe()
	}
	if err != nil {
		res.Error = err.Error()
	}
	if serr := ru.writeSinks(ctx, res); serr != nil {
		err = errors.Join(err, serr)
	}
	return res, err
}

// run is the state of one Run.
type run struct {
	cfg      Config
	hooks    Hooks
	cls      classifier
	preparer pool.Preparer
	history  pool.StatementHistory // nil: not read
	rec      *timing.Recorder
	profile  *profile.Profile
	member   coordinate.Member
	signal   coordinate.Signal
	workers  []*Worker
	plan     *plan
	group    *errgroup.Group
	col      collector
	stream   *streamer // nil without Config.Stream

	startAt, measureAt, stoppedAt time.Duration
	started                       bool // the gate opened
	testStart                     chan error
	stopReason                    string
}

// phase runs fn as the process-level span phase: it calls the hooks,
// records the mark and wraps fn's error in a PhaseError.
func (ru *run) phase(ph timing.Phase, fn func() error) error {
	start := ru.rec.Now()
	ru.hooks.start(ph, timing.Process, start)
	err := fn()
	end := ru.rec.Span(ph, timing.Process, start, err)
	ru.hooks.done(ph, timing.Process, start, end, err)
	var pe *PhaseError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return err // already names its phase and worker
	}
	return &PhaseError{Phase: ph, Worker: timing.Process, Err: err}
}

func (ru *run) execute(ctx context.Context) (err error) {
	cfg := ru.cfg
	// runCtx is what operations see: it outlives ctx's end of the measured
	// window by at most cfg.Drain, and ends at once if ctx does.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ru.group = new(errgroup.Group) // the worker goroutines; waited for in teardown
	defer func() {
		err = errors.Join(err, ru.teardown(ctx, cancel, err))
	}()

	if err := ru.phase(timing.PoolInit, func() error {
		return ru.retry(ctx, timing.PoolInit, func() error { return ru.warmPool(ctx) })
	}); err != nil {
		return err
	}
	if ru.preparer != nil {
		if err := ru.phase(ru.preparer.PreparePhase(), func() error { return ru.preparer.Prepare(ctx) }); err != nil {
			return err
		}
	}
	if len(cfg.Workload.Tables) > 0 {
		// Profiling only reads: safe to retry.
		if err := ru.phase(timing.SetupProfile, func() error {
			return ru.retry(ctx, timing.SetupProfile, func() error {
				p, err := cfg.Profiler.Profile(ctx, cfg.Workload.Tables)
				ru.profile = p
				return err
			})
		}); err != nil {
			return err
		}
	}
	if cfg.Coordinator != nil {
		if err := ru.phase(timing.CoordRegister, func() (err error) {
			// The member records its own marks (a gap in its heartbeats) on
			// the run's timeline.
			ru.member, err = cfg.Coordinator.Join(ctx, coordinate.Node{ID: cfg.Node, Concurrency: cfg.Workers, Recorder: ru.rec})
			if c, ok := ru.member.(coordinate.Clocked); ok {
				ru.rec.SetClockOffset(c.ClockOffset())
			}
			return err
		}); err != nil {
			return err
		}
	}
	// The workers are parked at the gate before the worker reports ready,
	// so that ready means ready to start at once.
	if err := ru.phase(timing.ScaleWarmup, func() error { return ru.startWorkers(runCtx) }); err != nil {
		return err
	}
	if !cfg.WritesAfterSignal {
		if err := ru.beforeFirstQuery(ctx); err != nil {
			return err
		}
	}
	if err := ru.awaitSignal(ctx); err != nil {
		return err
	}
	if cfg.WritesAfterSignal {
		if err := ru.beforeFirstQuery(ctx); err != nil {
			return err
		}
	}
	return ru.drive(ctx, runCtx, cancel)
}

// beforeFirstQuery reports RUNNING and records the test start: writes that
// belong before the start signal, except with Config.WritesAfterSignal.
func (ru *run) beforeFirstQuery(ctx context.Context) error {
	if ru.member != nil {
		status := coordinate.StatusReady
		if ru.cfg.WritesAfterSignal {
			status = coordinate.StatusRunning
		}
		if err := ru.phase(timing.HeartbeatRunning, func() error {
			return ru.member.SetState(ctx, coordinate.State{Status: status, Phase: string(timing.CoordWait)})
		}); err != nil {
			return err
		}
	}
	if len(ru.cfg.Sinks) == 0 {
		return nil
	}
	info := ru.runInfo()
	if !ru.cfg.BackgroundTestStart {
		return ru.phase(timing.ResultsTestStart, func() error { return ru.recordTestStart(ctx, info) })
	}
	// In the background: the span is recorded when the writes end.
	ru.testStart = make(chan error, 1)
	start := ru.rec.Now()
	ru.hooks.start(timing.ResultsTestStart, timing.Process, start)
	go func() {
		err := ru.recordTestStart(ctx, info)
		end := ru.rec.Span(timing.ResultsTestStart, timing.Process, start, err)
		ru.hooks.done(timing.ResultsTestStart, timing.Process, start, end, err)
		ru.testStart <- err
	}()
	return nil
}

func (ru *run) recordTestStart(ctx context.Context, info RunInfo) error {
	var errs []error
	for i, s := range ru.cfg.Sinks {
		if err := s.TestStart(ctx, info); err != nil {
			errs = append(errs, fmt.Errorf("sink %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// warmPool opens the pool's connections, one pool.conn mark each.
func (ru *run) warmPool(ctx context.Context) error {
	onConn := ru.hooks.ConnOpened
	return ru.cfg.Pool.Warm(ctx, pool.WarmOptions{
		Conns:    ru.cfg.Conns,
		Parallel: ru.cfg.ConnParallel,
		OnConn: func(ci pool.ConnInfo) {
			m := timing.Mark{
				Phase: timing.PoolConn, Worker: timing.Process,
				Start: ru.rec.Offset(ci.Start), End: ru.rec.Offset(ci.End),
				Detail: "conn=" + strconv.Itoa(ci.Index),
			}
			if ci.Err != nil {
				m.Err = ci.Err.Error()
			}
			ru.rec.Record(m)
			if onConn != nil {
				onConn(ConnOpenedInfo{Index: ci.Index, Start: m.Start, End: m.End, Err: ci.Err})
			}
		},
	})
}

// startWorkers takes a session per worker and starts the worker goroutines
// (and, for an arrival-rate run, the pacer), which wait at the gate until
// the start instant. A closed-loop run whose stages reach beyond Workers
// starts the extra workers now, parked, so that ramping up takes no
// session on the way.
func (ru *run) startWorkers(runCtx context.Context) error {
	cfg := &ru.cfg
	ops := cfg.Workload.Operations
	if cfg.OpTimeout > 0 {
		ops = withTimeout(ops, cfg.OpTimeout)
	}
	p := &plan{ops: ops, rec: ru.rec, hooks: &ru.hooks, cls: ru.cls, gate: make(chan struct{}),
		open: cfg.openLoop(), lateAfter: cfg.LateAfter, multi: len(ops) > 1}
	for _, op := range ops {
		p.total += op.Weight
		p.cumWeights = append(p.cumWeights, p.total)
	}
	ch := make(chan struct{})
	p.wake.Store(&ch)
	p.target.Store(int64(cfg.Workers))
	p.rate.Store(&rateChange{rate: cfg.Rate})
	p.setWindow(never, never)
	// About two shared histograms per CPU: enough that a worker moving a
	// batch finds one free (see stats.go), and never more than workers.
	nshards := min(cfg.maxWorkers(), 2*runtime.GOMAXPROCS(0))
	for ph := range p.shards {
		p.shards[ph] = make([]opShards, len(ops))
		for i := range ops {
			p.shards[ph][i].lat = newShardSet(nshards)
			if p.open {
				p.shards[ph][i].queue = newShardSet(nshards)
				p.shards[ph][i].lag = newShardSet(nshards)
			}
		}
		p.offered[ph] = make([]atomic.Int64, len(ops))
		p.dropped[ph] = make([]atomic.Int64, len(ops))
		p.snapOffered[ph] = make([]atomic.Int64, len(ops))
		p.snapDropped[ph] = make([]atomic.Int64, len(ops))
	}
	p.boundary.Store(int64(never))
	p.snapAt.Store(-1)
	p.begun = make([]atomic.Int64, len(ops))
	for i := range p.begunSnap {
		p.begunSnap[i].counts = make([]atomic.Int64, len(ops))
		p.begunSnap[i].at.Store(-1)
	}
	ru.plan = p
	ru.col.init(len(ops))
	ru.col.target = cfg.initialTarget()
	if p.open {
		p.queue = make(chan release, cfg.MaxInFlight)
		arr := newArrivals(cfg.Seed, cfg.Arrival == ArrivalPoisson)
		ru.group.Go(func() error {
			p.pace(runCtx, int64(cfg.MaxInFlight), arr)
			return nil
		})
	}
	return ru.addWorkers(runCtx, cfg.maxWorkers())
}

// addWorkers grows the set of worker goroutines to n.
func (ru *run) addWorkers(runCtx context.Context, n int) error {
	nops := len(ru.plan.ops)
	for i := len(ru.workers); i < n; i++ {
		s, err := ru.cfg.Pool.Session(runCtx)
		if err != nil {
			return &PhaseError{Phase: timing.ScaleWarmup, Worker: i, Err: err}
		}
		w := &Worker{
			id:      i,
			rand:    rand.New(rand.NewPCG(ru.cfg.Seed, uint64(i))),
			session: s,
			tagger:  asTagger(s),
			profile: ru.profile,
			cur:     newIbuf(nops),
			epoch:   ru.plan.epoch.Load(),
		}
		w.tl = w.cur.t
		if ru.history != nil {
			w.trail = newTrail(ru.cfg.trailSize())
		}
		w.cur.share(&ru.plan.shards, i)
		spare := newIbuf(nops)
		spare.share(&ru.plan.shards, i)
		w.free.Store(spare)
		ru.workers = append(ru.workers, w)
		ru.group.Go(func() error { w.run(runCtx, ru.plan); return nil })
	}
	return nil
}

// awaitSignal waits for the start signal, sleeps until its instant and
// opens the gate. The coord.wait span ends at the start instant, so that the
// time until T is accounted for.
func (ru *run) awaitSignal(ctx context.Context) error {
	if ru.member == nil {
		now := time.Now()
		ru.signal = coordinate.Signal{At: now, Published: now}
		ru.signalled()
	} else if err := ru.phase(timing.CoordWait, func() (err error) {
		if ru.signal, err = ru.member.Wait(ctx); err != nil {
			return err
		}
		ru.signalled()
		return coordinate.SleepUntil(ctx, ru.signal.At)
	}); err != nil {
		return err
	}
	// A smaller concurrency in the signal parks workers before the gate;
	// a larger one starts more once it is open (see drive).
	if n := ru.signal.Concurrency; n > 0 && n < len(ru.workers) && !ru.plan.open {
		ru.plan.setTarget(n)
		ru.col.target = float64(n)
	}
	// The workers start from the later of T and now: with
	// WritesAfterSignal, the writes after the signal delay them.
	ru.setStart(max(ru.rec.Offset(ru.signal.At), ru.rec.Now()))
	if ru.cfg.WritesAfterSignal {
		return nil // the gate opens after the writes, in drive
	}
	ru.openGate()
	return nil
}

// signalled records the start signal's instant and calls its hook.
func (ru *run) signalled() {
	received := ru.rec.Now()
	at := ru.rec.Offset(ru.signal.At)
	ru.rec.Instant(timing.CoordStart, timing.Process, at)
	if f := ru.hooks.StartSignal; f != nil {
		f(StartSignalInfo{At: ru.signal.At, Published: ru.signal.Published, Offset: at, Received: received})
	}
}

// setStart fixes the start instant and the windows that follow from it. A
// steady warmup's measure start is its maximum until the system is steady.
func (ru *run) setStart(at time.Duration) {
	ru.startAt = at
	ru.plan.startAt = at
	ru.col.ivStart = at
	if s := ru.cfg.Steady; s != nil {
		ru.measureAt = at + s.Max
	} else {
		ru.measureAt = at + ru.cfg.Warmup
		ru.col.endedBy = EndedByDuration
	}
	ru.plan.setWindow(ru.measureAt, ru.measureAt+ru.cfg.Duration)
	if ru.plan.open {
		z := ru.plan.zeroSample()
		ru.col.last, ru.col.win[inWarmup][0], ru.col.win[inMeasure][0] = z, z, z
		// Nothing to drain without a warmup.
		ru.plan.drainHold.Store(ru.cfg.DrainWarmup && ru.measureAt > at)
		ru.col.inWarmupWin = ru.measureAt > at
		ru.plan.boundary.Store(int64(ru.nextFlip()))
	}
}

func (ru *run) openGate() {
	ru.started = true
	close(ru.plan.gate)
}

// runningAfter is how long after the start a node reports RUNNING. At T
// the report would be one more write (a statement on the database with
// the SQL coordinators) and a wake-up of the orchestrator, which watches
// the nodes, at the instant every node's first operations compete for the
// cores: with 8 processes on 2 cores, reporting at T measured a median T
// to first query of about 2 ms, against 1.1 ms after it (PERFORMANCE.md).
const runningAfter = 20 * time.Millisecond

// drive runs the warmup and measured windows: it follows the clock to end
// the intervals, collect their statistics, adjust the target by the stages,
// end a steady warmup, call the phase hooks and apply control events, and
// returns when the window ends or the run is stopped.
func (ru *run) drive(ctx, runCtx context.Context, cancel context.CancelFunc) error {
	p, c := ru.plan, &ru.col
	if !ru.started {
		// WritesAfterSignal: the writes happened after T; start from now.
		ru.setStart(ru.rec.Now())
		ru.openGate()
	}
	if n := ru.signal.Concurrency; n > len(ru.workers) && !p.open {
		ru.scale(runCtx, float64(n), " (start signal)")
	}
	// RUNNING is reported runningAfter past the start (with
	// WritesAfterSignal, it was before the gate).
	runningDue, runningAt := ru.member != nil && !ru.cfg.WritesAfterSignal, ru.startAt+runningAfter
	var events <-chan coordinate.Event
	if ru.member != nil {
		events = ru.signal.Events
	}
	c.inWarmupWin = ru.measureAt > ru.startAt
	if c.inWarmupWin {
		ru.hooks.start(timing.Warmup, timing.Process, ru.startAt)
	} else {
		ru.hooks.start(timing.Measure, timing.Process, ru.measureAt)
	}
	defer func() {
		// The window that was open when the run ended ends now.
		ph, start := timing.Measure, ru.measureAt
		if c.inWarmupWin {
			ph, start = timing.Warmup, ru.startAt
		}
		ru.window(ph, start, ru.stoppedAt)
	}()
	grace := ru.cfg.Interval / 4
	var lastSeq int64
	timer := time.NewTimer(0)
	defer timer.Stop()
	// Every pass ends in the select, even when an interval's work is
	// already due again (its statistics took longer than an interval on a
	// loaded machine): the control events and the context are then read
	// between two pieces of that work, never starved by it.
	for {
		now := ru.rec.Now()
		var wait time.Duration
		switch flip := ru.nextFlip(); {
		case runningDue && now >= runningAt:
			runningDue = false
			// The phase is the one under way now, by the clock (a loop
			// late for the warmup's end may not have closed its window
			// yet): the measured one when the warmup was shorter than
			// runningAfter, or absent.
			if err := ru.member.SetState(ctx, coordinate.State{Status: coordinate.StatusRunning, Phase: string(ru.currentPhase())}); err != nil {
				ru.cfg.Logger.Warn("reporting RUNNING failed", "err", err)
			}
		case c.gatherDue && now >= c.gatherAt:
			c.gatherDue = false
			ru.gather()
			for len(c.pending) > 0 {
				ru.emit(c.pending[0])
				c.pending = c.pending[1:]
			}
		case now >= flip:
			var smp *sample
			if p.open {
				smp = p.sample(flip)
			}
			c.pending = append(c.pending, ru.meta(flip, smp))
			p.epoch.Add(1)
			p.signal() // idle workers hand their buffers over too
			c.gatherDue, c.gatherAt = true, flip+grace
			c.ivStart = flip
			if c.inWarmupWin && flip >= ru.measureAt {
				c.inWarmupWin = false
				if c.endedBy == "" {
					c.endedBy = EndedByMax
				}
				ru.window(timing.Warmup, ru.startAt, ru.measureAt)
				c.win[inWarmup][1], c.win[inMeasure][0] = smp, smp
				if p.drainHold.Load() {
					ru.drainWarmup(ctx)
				}
				ru.hooks.start(timing.Measure, timing.Process, ru.measureAt)
			}
			if flip >= p.end() {
				c.win[inMeasure][1] = smp
				ru.stoppedAt = p.end()
				return nil
			}
			ru.applyStages(runCtx, flip)
			p.boundary.Store(int64(ru.nextFlip()))
		default:
			next := flip
			if c.gatherDue {
				next = min(next, c.gatherAt)
			}
			if runningDue {
				next = min(next, runningAt)
			}
			wait = next - now
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			ru.halt("context: " + context.Cause(ctx).Error())
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Seq <= lastSeq {
				ru.cfg.Logger.Warn("ignoring stale control event", "seq", ev.Seq, "last", lastSeq)
				continue
			}
			lastSeq = ev.Seq
			switch ev.Kind {
			case coordinate.EventStop:
				ru.halt("stop: " + ev.Reason)
				return nil
			case coordinate.EventAbort:
				ru.halt("abort: " + ev.Reason)
				cancel()
				err := fmt.Errorf("%w: %s", ErrAborted, ev.Reason)
				return &PhaseError{Phase: ru.currentPhase(), Worker: timing.Process, Err: err}
			case coordinate.EventScale:
				ru.scale(runCtx, float64(ev.Concurrency), "")
			default:
				ru.cfg.Logger.Warn("ignoring unknown control event", "seq", ev.Seq, "kind", string(ev.Kind))
			}
		}
	}
}

// nextFlip is the end of the current interval: an interval ends at the
// latest after Interval, at the measure start and at the window's end.
func (ru *run) nextFlip() time.Duration {
	c := &ru.col
	next := min(c.ivStart+ru.cfg.Interval, ru.plan.end())
	if c.inWarmupWin {
		next = min(next, ru.measureAt)
	}
	return next
}

// applyStages moves the target to where the stages say it is at offset at.
func (ru *run) applyStages(runCtx context.Context, at time.Duration) {
	if len(ru.cfg.Stages) == 0 {
		return
	}
	from := ru.startAt
	if ru.cfg.Steady != nil {
		if ru.col.inWarmupWin {
			return // the warmup runs at the initial target
		}
		from = ru.measureAt
	}
	target, stage := ru.cfg.stageTarget(at - from)
	if !ru.plan.open {
		target = math.Round(target)
	}
	if target != ru.col.target {
		ru.scale(runCtx, target, " stage="+strconv.Itoa(stage))
	}
}

func (ru *run) currentPhase() timing.Phase {
	if ru.rec.Now() < ru.measureAt {
		return timing.Warmup
	}
	return timing.Measure
}

// halt stops the workers before the end of the window.
func (ru *run) halt(reason string) {
	ru.stoppedAt = ru.rec.Now()
	ru.stopReason = reason
	if ru.plan.open {
		c := &ru.col
		c.halted = ru.plan.sample(-1)
		ph := inMeasure
		if c.inWarmupWin {
			ph = inWarmup
		}
		c.win[ph][1] = c.halted
	}
	ru.plan.stop.Store(true)
	ru.plan.signal() // wakes parked workers and the pacer
}

// scale changes the target: the number of active workers (closed loop,
// starting new ones if needed) or the arrival rate. It is recorded as a
// scale mark on the timeline, whose detail says the new target and why.
func (ru *run) scale(runCtx context.Context, target float64, why string) {
	start := ru.rec.Now()
	var err error
	switch {
	case math.IsNaN(target) || math.IsInf(target, 0) || target < 0 || (target == 0 && why == ""):
		err = fmt.Errorf("scale target %v: want a positive number", target)
	case !ru.plan.open && target > float64(ru.cfg.MaxWorkers):
		err = fmt.Errorf("scale target %v: above Config.MaxWorkers (%d)", target, ru.cfg.MaxWorkers)
	}
	if err != nil {
		ru.cfg.Logger.Warn("ignoring a scale target", "target", target, "err", err)
		ru.rec.Record(timing.Mark{Phase: timing.Scale, Worker: timing.Process, Start: start, End: start,
			Detail: "ignored" + why, Err: err.Error()})
		return
	}
	detail := ""
	if ru.plan.open {
		ru.plan.setRate(target, start)
		detail = "rate=" + strconv.FormatFloat(target, 'f', -1, 64)
	} else {
		n := int(target)
		if n > len(ru.workers) {
			err = ru.addWorkers(runCtx, n)
		}
		ru.plan.setTarget(min(n, len(ru.workers)))
		detail = "target=" + strconv.Itoa(n)
	}
	ru.col.target = target
	ru.rec.Record(timing.Mark{Phase: timing.Scale, Worker: timing.Process, Start: start, End: ru.rec.Now(),
		Detail: detail + why, Err: errString(err)})
}

// withTimeout returns ops with each Run bounded by d. Only a run with
// Config.OpTimeout pays for the context each operation then allocates.
func withTimeout(ops []Operation, d time.Duration) []Operation {
	out := make([]Operation, len(ops))
	for i, op := range ops {
		run := op.Run
		op.Run = func(ctx context.Context, w *Worker) error {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return run(ctx, w)
		}
		out[i] = op
	}
	return out
}

// retry runs fn, the work of the setup phase ph, again while it fails
// with an error worth retrying (the pool says so, or the connection was
// lost or refused, or timed out: see classifier), at most
// Config.SetupAttempts times in all, pausing Config.SetupBackoff and then
// twice as long each time. Statement errors (a missing table, bad
// credentials) are not retried: they would fail again. Each failed attempt
// that is retried is a setup.retry mark.
func (ru *run) retry(ctx context.Context, ph timing.Phase, fn func() error) error {
	pause := backoff.Backoff{Initial: ru.cfg.SetupBackoff}
	for attempt := 1; ; attempt++ {
		start := ru.rec.Now()
		err := fn()
		if err == nil {
			return nil
		}
		if _, retryable := ru.cls.classify(err); attempt >= ru.cfg.SetupAttempts || ctx.Err() != nil || !retryable {
			if attempt > 1 {
				err = fmt.Errorf("%d attempts failed, the last: %w", attempt, err)
			}
			return err
		}
		ru.rec.Record(timing.Mark{Phase: timing.SetupRetry, Worker: timing.Process, Start: start, End: ru.rec.Now(),
			Detail: string(ph) + " attempt=" + strconv.Itoa(attempt), Err: err.Error()})
		ru.cfg.Logger.Warn("retrying a setup phase", "phase", string(ph), "attempt", attempt, "err", err)
		if pause.Sleep(ctx) != nil {
			return err
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// teardown stops the workers (at once if the run failed, else after
// letting operations in flight finish within cfg.Drain), closes their
// sessions, waits for the background test start and leaves the coordinator.
func (ru *run) teardown(ctx context.Context, cancel context.CancelFunc, runErr error) error {
	return ru.phase(timing.Teardown, func() error {
		if ru.plan != nil {
			if !ru.started || runErr != nil {
				// At a normal end the workers stop at the window's end by
				// themselves, and operations already scheduled in it run.
				ru.plan.stop.Store(true)
				cancel()
			}
			ru.plan.signal() // wakes parked workers and the pacer
		}
		done := make(chan struct{})
		go func() { _ = ru.group.Wait(); close(done) }()
		drain := time.NewTimer(ru.cfg.Drain)
		select {
		case <-done:
		case <-drain.C:
			cancel()
			<-done
		}
		drain.Stop()
		if ru.stoppedAt == 0 && ru.started {
			ru.stoppedAt = min(ru.rec.Now(), ru.plan.end())
		}
		ru.finish() // the workers have stopped: collect what they hold
		var errs []error
		for _, w := range ru.workers {
			if err := w.session.Close(); err != nil {
				errs = append(errs, &PhaseError{Phase: timing.Teardown, Worker: w.id, Err: err})
			}
		}
		if ru.testStart != nil {
			if err := <-ru.testStart; err != nil {
				errs = append(errs, &PhaseError{Phase: timing.ResultsTestStart, Worker: timing.Process, Err: err})
			}
		}
		if ru.member != nil {
			lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			defer lcancel()
			if err := ru.member.Leave(lctx, runErr); err != nil {
				errs = append(errs, fmt.Errorf("leaving the coordinator: %w", err))
			}
		}
		return errors.Join(errs...)
	})
}

// flushTimeout bounds the writes made after the run (leaving the
// coordinator, writing the sinks) when the run's context is already done.
const flushTimeout = 30 * time.Second

// writeSinks gives the result to every sink, even when ctx is done, so
// that what was measured is not lost.
func (ru *run) writeSinks(ctx context.Context, res *Result) error {
	if len(ru.cfg.Sinks) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	var errs []error
	for i, s := range ru.cfg.Sinks {
		if err := s.Write(wctx, res); err != nil {
			errs = append(errs, fmt.Errorf("loadtest: writing the result to sink %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// window records the warmup or measure span and calls its Done hook.
func (ru *run) window(ph timing.Phase, start, end time.Duration) {
	ru.rec.Record(timing.Mark{Phase: ph, Worker: timing.Process, Start: start, End: end, Detail: ru.stopReason})
	ru.hooks.done(ph, timing.Process, start, end, nil)
}

// drainWarmup holds the schedule at the warmup's end (the pacer stops
// there: see plan.drainHold) until every operation scheduled in the warmup
// has ended, or Config.Drain has passed, and then opens the measured
// window: from now, for Config.Duration. The wait is the warmup.drain span
// on the timeline; its detail gives the backlog it started with, and its
// error says when the wait ran out first.
func (ru *run) drainWarmup(ctx context.Context) {
	p, c := ru.plan, &ru.col
	from := ru.measureAt
	var backlog int64
	if s := c.win[inWarmup][1]; s != nil {
		for _, n := range s.backlog {
			backlog += n
		}
	}
	deadline := ru.rec.Now() + ru.cfg.Drain
	var err error
	for p.inflight.Load() > 0 {
		if ru.rec.Now() >= deadline || ctx.Err() != nil {
			err = fmt.Errorf("%d operations of the warmup still in flight after %v", p.inflight.Load(), ru.cfg.Drain)
			break
		}
		time.Sleep(200 * time.Microsecond)
	}
	at := ru.rec.Now()
	ru.measureAt = at
	p.moveMeasure(at, at+ru.cfg.Duration)
	p.drainHold.Store(false)
	p.signal() // the pacer resumes from the new start; workers reload the window
	c.ivStart = at
	smp := p.sample(-1)
	c.last, c.win[inMeasure][0] = smp, smp
	p.boundary.Store(int64(ru.nextFlip()))
	ru.rec.Record(timing.Mark{Phase: timing.WarmupDrain, Worker: timing.Process, Start: from, End: at,
		Detail: "backlog=" + strconv.FormatInt(backlog, 10), Err: errString(err)})
}
