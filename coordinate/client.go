package coordinate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/startline/startline/internal/backoff"
	"github.com/startline/startline/timing"
)

// Client is the node side of the kit over a Backend: a Coordinator whose
// members keep every rule of the barrier, so that a backend only stores and
// reads records. It is safe for concurrent use; Join may be called by many
// nodes, of one process or of many.
//
// A member (what Join returns) implements Member and Clocked. From Join
// until Leave it runs two goroutines: one writes a heartbeat every
// Options.Heartbeat (a failed one is retried with backoff, and the gap is a
// timing.CoordUnreachable mark on the node's Recorder), the other, once the
// start is known, records when the node saw it and hands the control
// events after the start to Signal.Events, in Seq order, each once.
type Client struct {
	b       Backend
	opts    Options
	clock   Clock   // nil: the reference clock is this process's
	watcher Watcher // nil: reads are polled
}

var _ Coordinator = (*Client)(nil)

// NewClient validates opts and returns a Client over b. It does not touch
// the backend: Join does.
func NewClient(b Backend, opts Options) (*Client, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: the Backend is nil", ErrInvalid)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{b: b, opts: opts}
	c.clock, _ = b.(Clock)
	c.watcher, _ = b.(Watcher)
	return c, nil
}

// Name returns the backend's name.
func (c *Client) Name() string { return c.b.Name() }

// interval is one poll interval with jitter.
func (c *Client) interval() time.Duration {
	d := c.opts.Poll
	if c.opts.Jitter > 0 {
		d += rand.N(c.opts.Jitter)
	}
	return d
}

// watch subscribes to topic, or returns nil when the backend does not watch
// it or the subscription failed (then the kit polls, and says so).
func (c *Client) watch(ctx context.Context, topic Topic, node string) Subscription {
	if c.watcher == nil {
		return nil
	}
	s, err := c.watcher.Watch(ctx, topic)
	if err != nil {
		c.opts.Logger.Warn("coordinate: subscribing failed; polling only", "node", node, "err", err)
		return nil
	}
	return s
}

func (n Node) validate() error {
	switch {
	case n.ID == "":
		return fmt.Errorf("%w: Node.ID is empty", ErrInvalid)
	case len(n.ID) > MaxNodeID:
		return fmt.Errorf("%w: Node.ID is %d bytes, more than %d", ErrInvalid, len(n.ID), MaxNodeID)
	case n.Concurrency < 0:
		return fmt.Errorf("%w: Node.Concurrency of node %q is %d, must not be negative", ErrInvalid, n.ID, n.Concurrency)
	}
	return nil
}

// abortedError describes a run that was aborted before its start; where,
// if set, says who learned it ("coord.wait: node \"n1\"").
func abortedError(where, reason string) error {
	if where != "" {
		where = " (" + where + ")"
	}
	if reason == "" {
		return fmt.Errorf("%w before start%s", ErrAborted, where)
	}
	return fmt.Errorf("%w before start%s: %s", ErrAborted, where, reason)
}

// Join measures the clock offset against the backend's reference clock
// (if it has one), adds the node's record (state JOINED) and starts the
// member's goroutines. A node whose run has already started is refused
// with ErrLate: it would start unsynchronised; a run that was aborted
// refuses it with ErrAborted; a second node with the same ID gets
// ErrDuplicate. Errors name the phase (coord.register) and the node.
func (c *Client) Join(ctx context.Context, n Node) (Member, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("coordinate: join node %q: %w", n.ID, err)
	}
	if err := n.validate(); err != nil {
		return nil, err
	}
	// Subscribed before the first read of the run, so that no change falls
	// between the two.
	sub := c.watch(ctx, TopicRun, n.ID)
	closeSub := func() {
		if sub != nil {
			_ = sub.Close()
		}
	}
	fail := func(err error) (Member, error) {
		closeSub()
		return nil, fmt.Errorf("coordinate: %s: node %q: %w", timing.CoordRegister, n.ID, err)
	}
	r, err := c.b.Run(ctx)
	if err != nil {
		return fail(err)
	}
	switch r.Status {
	case RunAborted:
		closeSub()
		return nil, abortedError(fmt.Sprintf("%s: node %q", timing.CoordRegister, n.ID), r.Reason)
	case RunStarted:
		return fail(fmt.Errorf("%w: its start was published", ErrLate))
	}
	offset, bound, err := measureClock(ctx, c.clock, c.opts.ClockSamples, c.opts.ClockSkew)
	if err != nil {
		return fail(err)
	}
	m := &member{
		c: c, id: n.ID, offset: offset, bound: bound, rec: n.Recorder, runSub: sub,
		begin:  make(chan sighting, 1),
		events: make(chan Event, eventBuffer),
	}
	now := m.refNow()
	m.node = NodeRecord{
		ID: n.ID, Status: StatusJoined, Phase: string(timing.CoordRegister), Concurrency: n.Concurrency,
		Joined: now, Beat: now, ClockOffset: offset, ClockError: bound,
	}
	if err := c.b.PutNode(ctx, m.node, NodeJoin); err != nil {
		return fail(err)
	}
	// The goroutines' context ends with Leave, so that no write of theirs
	// outlives the member.
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(2)
	go m.heartbeat()
	go m.deliver()
	return m, nil
}

// eventBuffer is the capacity of a member's Events channel. Delivery never
// depends on it (a member queues without bound); it only lets a burst of
// events through without a hand-off per event.
const eventBuffer = 16

// member is a Member of a Client.
type member struct {
	c   *Client
	id  string
	rec *timing.Recorder // nil: no marks

	clockMu       sync.Mutex // guards offset and bound, refined in the lead
	offset, bound time.Duration
	runSub        Subscription // nil: the run is polled

	ctx    context.Context // ends with Leave
	cancel context.CancelFunc
	wg     sync.WaitGroup // the two goroutines

	mu   sync.Mutex // guards node and left, and serializes NodeState writes
	node NodeRecord
	left bool

	sightOnce sync.Once
	begin     chan sighting // the start, once Wait has seen it
	events    chan Event    // closed by deliver

	badEvents, badRun warnOnce
}

// sighting is when a member first saw the start, and the run's StartSeq.
type sighting struct {
	seq   int64
	at    time.Time // on this process's clock
	start time.Time // T, on this process's clock
}

var (
	_ Member  = (*member)(nil)
	_ Clocked = (*member)(nil)
)

// ClockOffset returns how far this host's clock runs ahead of the
// reference clock, and the bound on that estimate, as measured at Join.
// Readings taken in the lead before T (Options.LeadClockSamples) replace
// it when their bound is tighter.
func (m *member) ClockOffset() (offset, bound time.Duration) {
	m.clockMu.Lock()
	defer m.clockMu.Unlock()
	return m.offset, m.bound
}

// refNow is now on the reference clock: this host's clock (this
// process's, run Options.ClockSkew ahead) less the offset.
func (m *member) refNow() time.Time {
	off, _ := m.ClockOffset()
	return time.Now().Add(m.c.opts.ClockSkew - off)
}

// local converts a time on the reference clock to this process's clock:
// the host's clock (the reference one plus the offset) less the simulated
// skew.
func (m *member) local(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	off, _ := m.ClockOffset()
	return t.Add(off - m.c.opts.ClockSkew)
}

// leadClock returns the instants, random and sorted, at which a member that
// saw the start at now reads the reference clock again (Options.
// LeadClockSamples): from an eighth to a half of the time to until; none
// without a Clock or a lead to speak of.
//
// Not from the sighting on: the start is still reaching the rest of the
// fleet then, and readings from the nodes that saw it first slowed its
// fan-out to the others. BenchmarkFleetStart/members=1000, 30 runs each,
// interleaved: seen-p99 52.5 ms with readings over the whole first half,
// 44.3 ms from an eighth on (PERFORMANCE.md).
func (m *member) leadClock(now, until time.Time) []time.Time {
	n, lead := m.c.opts.LeadClockSamples, until.Sub(now)
	half, skip := min(lead/2, lead-leadClockMargin), lead/8
	if m.c.clock == nil || n <= 0 || half <= skip {
		return nil
	}
	at := make([]time.Time, n)
	for i := range at {
		at[i] = now.Add(skip + rand.N(half-skip))
	}
	slices.SortFunc(at, time.Time.Compare)
	return at
}

// leadClockMargin is how long before the end of the hold the last reading
// of the clock in the lead may begin.
const leadClockMargin = 2 * time.Millisecond

// reclock reads the reference clock once, within until, and keeps the
// reading if its bound is tighter than the member's.
func (m *member) reclock(ctx context.Context, until time.Time) {
	rctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	off, bound, err := measureClock(rctx, m.c.clock, 1, m.c.opts.ClockSkew)
	if err != nil {
		return // the reading of Join stands
	}
	m.clockMu.Lock()
	better := bound < m.bound
	if better {
		m.offset, m.bound = off, bound
	}
	m.clockMu.Unlock()
	if better && m.rec != nil {
		// The node's timeline is merged with the offset it starts with.
		m.rec.SetClockOffset(off, bound)
	}
}

// Wait reports the node ready (if it was only joined: a node that waits is
// ready), then reads the run's record until it says STARTED or ABORTED: at
// once when the backend signals a change (taking the record the wake-up
// carries, if the subscription is a RunCarrier), else every Poll (plus
// jitter). Failed reads are retried Retries times, one poll apart, and the
// WaitTimeout bounds the wait for the start.
//
// Once the start is published, Wait holds on to it until just before T
// (a millisecond, where SleepUntil starts spinning), still reading the
// record: an orchestrator that withdraws the start before T (a node was
// lost, a stop or abort was sent) makes Wait fail with ErrAborted, so that
// no node runs into its warmup. A withdrawal that comes later reaches the
// members as an abort event. Meanwhile it reads the reference clock again
// (Options.LeadClockSamples) and converts T with the tightest reading.
func (m *member) Wait(ctx context.Context) (Signal, error) {
	c := m.c
	m.mu.Lock()
	left, status := m.left, m.node.Status
	m.mu.Unlock()
	if left {
		return Signal{}, fmt.Errorf("%w: node %q cannot wait", ErrLeft, m.id)
	}
	if status == StatusJoined {
		if err := m.SetState(ctx, State{Status: StatusReady, Phase: string(timing.CoordWait)}); err != nil {
			return Signal{}, fmt.Errorf("coordinate: %s: %w", timing.CoordWait, err)
		}
	}
	wctx := ctx
	if c.opts.WaitTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, c.opts.WaitTimeout)
		defer cancel()
	}
	var wake <-chan struct{}
	var carrier RunCarrier // nil: every wake-up reads the record
	if m.runSub != nil {
		wake = m.runSub.C()
		carrier, _ = m.runSub.(RunCarrier)
	}
	woke := false    // the last pause ended with a wake-up
	reclock := false // the last pause ended for a reading of the clock
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	ctimer := time.NewTimer(time.Hour) // the next reading of the clock in the lead
	ctimer.Stop()
	defer ctimer.Stop()
	var sig Signal
	var rec RunRecord       // the started run
	var holdUntil time.Time // once started: T less the spin window
	var clockAt []time.Time // the readings of the clock still to take in the lead
	started, failures := false, 0
	for {
		if started && !time.Now().Before(holdUntil) {
			return sig, nil
		}
		if reclock {
			reclock = false
			m.reclock(ctx, holdUntil)
			// T on this host's clock moves with the offset, and the hold
			// with it.
			sig.At, sig.Published = m.local(rec.At), m.local(rec.Published)
			holdUntil = sig.At.Add(-spinWindow)
			timer.Reset(min(c.interval(), max(time.Until(holdUntil), 0)))
			if clockAt = clockAt[1:]; len(clockAt) > 0 {
				ctimer.Reset(time.Until(clockAt[0]))
			}
		} else {
			// Once the start is known the wait timeout no longer applies, and
			// no read may make Wait late: each is cut off where the hold ends.
			rctx, cancelRead := wctx, context.CancelFunc(func() {})
			if started {
				rctx, cancelRead = context.WithDeadline(ctx, holdUntil)
			}
			var r RunRecord
			var err error
			carried := false
			if woke && carrier != nil {
				r, carried = carrier.Run()
			}
			if !carried {
				r, err = c.b.Run(rctx)
			}
			cancelRead()
			next := c.interval()
			switch {
			case err != nil && rctx.Err() == nil:
				failures++
				if started {
					break // the start is known: a read that fails cannot withdraw it
				}
				c.opts.Logger.Warn("coordinate: reading the run failed", "node", m.id, "attempt", failures, "err", err)
				if failures > c.opts.Retries {
					return Signal{}, fmt.Errorf("coordinate: %s: node %q: reading the run failed %d times in a row: %w", timing.CoordWait, m.id, failures, err)
				}
			case err != nil: // the wait ended: reported below
			case r.Status == RunAborted:
				return Signal{}, abortedError(fmt.Sprintf("%s: node %q", timing.CoordWait, m.id), r.Reason)
			case r.Status == RunStarted:
				failures = 0
				if !started {
					started = true
					sig, rec = m.signal(r), r
					holdUntil = sig.At.Add(-spinWindow)
					m.sightOnce.Do(func() { m.begin <- sighting{seq: r.StartSeq, at: time.Now(), start: sig.At} })
					if clockAt = m.leadClock(time.Now(), holdUntil); len(clockAt) > 0 {
						ctimer.Reset(time.Until(clockAt[0]))
					}
				}
			default:
				failures = 0
				if r.Status != RunWaiting {
					m.badRun.warn(c.opts.Logger, "run records", "status", "ignoring the run's unknown status", "node", m.id, "status", string(r.Status))
				}
			}
			if started {
				hold := time.Until(holdUntil)
				if hold <= 0 {
					return sig, nil
				}
				next = min(next, hold)
			}
			timer.Reset(next)
		}
		done := wctx.Done()
		if started {
			done = ctx.Done()
		}
		woke = false
		select {
		case <-timer.C:
		case <-ctimer.C:
			reclock = true
		case <-wake:
			woke = true
		case <-done:
			if ctx.Err() != nil {
				return Signal{}, fmt.Errorf("coordinate: %s: node %q waiting for the start signal: %w", timing.CoordWait, m.id, ctx.Err())
			}
			return Signal{}, m.waitTimeout(ctx)
		}
	}
}

// signal is the start signal of r, on this host's clock.
func (m *member) signal(r RunRecord) Signal {
	c := m.c
	if r.Bad != nil {
		m.badRun.warn(c.opts.Logger, "run records", "bad", "ignoring unreadable fields of the run's record", "node", m.id, "err", r.Bad.Error())
	}
	conc := 0
	if r.Concurrency < 0 || r.Concurrency > int64(c.opts.MaxScale) {
		c.opts.Logger.Warn("coordinate: ignoring the run's concurrency: not in 0..MaxScale", "node", m.id, "concurrency", r.Concurrency, "max_scale", c.opts.MaxScale)
	} else {
		conc = int(r.Concurrency)
	}
	return Signal{At: m.local(r.At), Published: m.local(r.Published), Concurrency: conc, Events: m.events}
}

// diagnosisTimeout bounds the reads that a wait timeout's error makes to
// say who was missing: a backend that hangs delays the error by at most
// this much.
const diagnosisTimeout = 5 * time.Second

// waitTimeout says how long node m waited and, as far as the backend
// tells, who was not ready by the orchestrator's rule (or, before the
// orchestrator stated one, of the nodes that joined).
func (m *member) waitTimeout(ctx context.Context) error {
	msg := fmt.Sprintf("coordinate: %s: node %q waited %s; start not issued", timing.CoordWait, m.id, m.c.opts.WaitTimeout)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnosisTimeout)
	defer cancel()
	r, rerr := m.c.b.Run(rctx)
	nodes, nerr := m.c.b.Nodes(rctx)
	if rerr == nil && nerr == nil {
		var sts []NodeStatus
		for _, n := range nodes {
			if n.Bad == nil {
				off, _ := m.ClockOffset()
				sts = append(sts, n.status(off))
			}
		}
		rule := Readiness{Nodes: r.Want, Expect: r.Expect}
		if rule.Validate() != nil { // not stated yet (or unreadable): whoever joined
			rule = Readiness{Nodes: len(sts)}
		}
		ready, missing, _ := readiness(sts, rule)
		msg += fmt.Sprintf("; %d of %d nodes ready; not ready: [%s]", len(ready), rule.Want(), listIDs(missing))
		if never := rule.Want() - len(ready) - len(missing); never > 0 && len(rule.Expect) == 0 {
			msg += fmt.Sprintf(" and %d that never joined", never)
		}
	}
	return &waitTimeoutError{msg: msg}
}

// waitTimeoutError carries a message built once and wraps ErrWaitTimeout.
type waitTimeoutError struct{ msg string }

func (e *waitTimeoutError) Error() string { return e.msg }
func (e *waitTimeoutError) Unwrap() error { return ErrWaitTimeout }

// SetState writes the node's state and phase at once, and counts as a
// heartbeat. The first report of READY or RUNNING succeeds only while the
// run still waits for its start: a node ready after the start was
// published was not counted, and gets ErrLate.
func (m *member) SetState(ctx context.Context, s State) error {
	if !s.Status.valid() {
		return fmt.Errorf("%w: State.Status %q is not a known status", ErrInvalid, s.Status)
	}
	b := m.c.b
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.left {
		return fmt.Errorf("%w: node %q cannot set state %s", ErrLeft, m.id, s.Status)
	}
	now := m.refNow()
	rec := m.node
	rec.Status, rec.Phase, rec.Beat = s.Status, s.Phase, now
	if m.node.Status == StatusJoined && s.Status.ready() {
		rec.Ready = now
		if err := b.PutNode(ctx, rec, NodeReady); err != nil {
			if !errors.Is(err, ErrConflict) {
				return fmt.Errorf("coordinate: node %q: reporting %s: %w", m.id, s.Status, err)
			}
			if r, rerr := b.Run(ctx); rerr == nil && r.Status == RunAborted {
				return abortedError(fmt.Sprintf("node %q", m.id), r.Reason)
			}
			return fmt.Errorf("%w: node %q became ready after the start was published", ErrLate, m.id)
		}
	} else if err := b.PutNode(ctx, rec, NodeState); err != nil {
		return fmt.Errorf("coordinate: node %q: reporting %s: %w", m.id, s.Status, err)
	}
	m.node = rec
	return nil
}

// Leave stops the member's goroutines (which closes Events; events not yet
// delivered are dropped), ends its subscriptions and writes the final
// state: FAILED with err, or DONE. Leave may be called again; later calls
// only wait for the goroutines too.
func (m *member) Leave(ctx context.Context, err error) error {
	m.mu.Lock()
	already := m.left
	m.left = true
	m.mu.Unlock()
	if already {
		m.wg.Wait()
		return nil
	}
	m.cancel()
	m.wg.Wait()
	var errs []error
	if m.runSub != nil {
		errs = append(errs, m.runSub.Close())
	}
	m.mu.Lock()
	rec := m.node
	rec.Status, rec.Err, rec.Beat = StatusDone, err, m.refNow()
	if err != nil {
		rec.Status = StatusFailed
	}
	m.node = rec
	m.mu.Unlock()
	if werr := m.c.b.PutNode(ctx, rec, NodeState); werr != nil {
		errs = append(errs, fmt.Errorf("coordinate: node %q: recording %s: %w", m.id, rec.Status, werr))
	}
	return errors.Join(errs...)
}

// beatTimeout bounds one write or read of a member's goroutines, so that a
// hung backend cannot hold them for ever. It is generous: a beat that is
// merely slow (a busy database, a loaded host) is better finished late
// than abandoned and sent again.
func (c *Client) beatTimeout() time.Duration {
	return max(5*c.opts.Heartbeat, 5*time.Second)
}

// heartbeat writes a beat every Heartbeat, from the last beat's start as a
// ticker would, so that a slow write does not stretch the period. A failed
// beat is retried sooner, with backoff from a tenth of the period up to
// the period: a blip costs one late beat, an unreachable backend is not
// hammered, and the beats never go slower than usual, which would get the
// node declared lost once the backend is back. The gap, from the first
// failed beat to the next that succeeds (or to Leave), is a
// timing.CoordUnreachable mark: its Detail counts the failed attempts, its
// Err is the first error.
func (m *member) heartbeat() {
	defer m.wg.Done()
	c := m.c
	every := c.opts.Heartbeat
	retry := backoff.Backoff{Initial: max(every/10, time.Millisecond), Max: every, Jitter: 0.5}
	var gapStart time.Time // when the first failed beat of a gap began
	var gapErr error
	failed := 0
	defer func() {
		if failed > 0 {
			m.markUnreachable(gapStart, time.Now(), failed, gapErr, " (not recovered)")
		}
	}()
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		at := time.Now()
		bctx, cancel := context.WithTimeout(m.ctx, c.beatTimeout())
		err := c.b.PutNode(bctx, NodeRecord{ID: m.id, Beat: m.refNow()}, NodeBeat)
		cancel()
		switch {
		case err == nil:
			if failed > 0 {
				m.markUnreachable(gapStart, time.Now(), failed, gapErr, "")
				c.opts.Logger.Info("coordinate: heartbeats recovered", "node", m.id, "failed", failed, "after", time.Since(gapStart))
			}
			failed, gapErr = 0, nil
			retry.Reset()
			t.Reset(max(every-time.Since(at), 0))
		case m.ctx.Err() != nil: // leaving
		default:
			if failed == 0 {
				gapStart, gapErr = at, err
			}
			failed++
			d := retry.Next()
			c.opts.Logger.Warn("coordinate: heartbeat failed", "node", m.id, "attempt", failed, "retry_in", d, "err", err)
			t.Reset(d)
		}
	}
}

// markUnreachable records a heartbeat gap from start to end.
func (m *member) markUnreachable(start, end time.Time, failed int, err error, detail string) {
	if m.rec == nil {
		return
	}
	m.rec.Record(timing.Mark{Phase: timing.CoordUnreachable, Worker: timing.Process,
		Start: m.rec.Offset(start), End: m.rec.Offset(end),
		Detail: "failed heartbeats=" + strconv.Itoa(failed) + detail, Err: err.Error()})
}

// deliver is the member's second goroutine: once Wait has seen the start,
// it records when (the node's Seen), then reads the events after the run's
// StartSeq, at every change the backend signals and every poll, and hands
// the valid ones to Events in Seq order, queueing without bound so that a
// slow reader never makes it drop one. It is the only sender on Events, so
// it closes it.
func (m *member) deliver() {
	defer m.wg.Done()
	defer close(m.events)
	var s sighting
	select {
	case <-m.ctx.Done():
		return
	case s = <-m.begin:
	}
	// The writes that follow the sighting wait until a random instant of
	// the third quarter of the lead: a fleet that saw the start at once
	// would otherwise send them all while the start is still reaching its
	// last nodes, and the sighting is then converted with the offset that
	// Wait's readings of the clock in the first half refined.
	if d := time.Until(s.start); d > 0 {
		t := time.NewTimer(d/2 + rand.N(d/4+1))
		select {
		case <-m.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	off, _ := m.ClockOffset()
	m.recordSeen(s.at.Add(m.c.opts.ClockSkew - off))
	c := m.c
	var wake <-chan struct{}
	if sub := c.watch(m.ctx, TopicEvents, m.id); sub != nil {
		defer sub.Close()
		wake = sub.C()
	}
	last := s.seq
	poll := time.NewTimer(0)
	defer poll.Stop()
	var pending []Event
	for {
		var out chan<- Event // nil, so never chosen, while nothing is pending
		var next Event
		if len(pending) > 0 {
			out, next = m.events, pending[0]
		}
		select {
		case <-m.ctx.Done():
			return
		case <-poll.C:
		case <-wake:
		case out <- next:
			pending[0] = Event{}
			pending = pending[1:]
			continue
		}
		rctx, cancel := context.WithTimeout(m.ctx, c.beatTimeout())
		pending = append(pending, m.readEvents(rctx, &last)...)
		cancel()
		poll.Reset(c.interval())
	}
}

// recordSeen writes when the node saw the start, off the path to the first
// query.
func (m *member) recordSeen(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.left {
		return
	}
	rec := m.node
	rec.Seen = at
	ctx, cancel := context.WithTimeout(m.ctx, m.c.beatTimeout())
	defer cancel()
	if err := m.c.b.PutNode(ctx, rec, NodeState); err != nil {
		if m.ctx.Err() == nil {
			m.c.opts.Logger.Warn("coordinate: recording the start sighting failed", "node", m.id, "err", err)
		}
		return
	}
	m.node = rec
}

// readEvents reads the events after *last and returns the valid ones,
// advancing *last to the last of them. A record that is not valid is
// logged once and skipped, never applied, and it does not move the cursor:
// a hostile record with a huge Seq must not make the node deaf to the
// events the orchestrator sends below it.
func (m *member) readEvents(ctx context.Context, last *int64) []Event {
	recs, err := m.c.b.Events(ctx, *last)
	if err != nil {
		if ctx.Err() == nil {
			m.c.opts.Logger.Warn("coordinate: reading control events failed", "node", m.id, "err", err)
		}
		return nil
	}
	var out []Event
	for _, r := range recs {
		if e, ok := m.validEvent(r, *last); ok {
			*last = e.Seq
			out = append(out, e)
		}
	}
	return out
}

// validEvent checks r, read after last, and logs why it is skipped.
func (m *member) validEvent(r EventRecord, last int64) (Event, bool) {
	c := m.c
	key := r.Raw
	if key == "" {
		key = strconv.FormatInt(r.Seq, 10)
	}
	skip := func(msg string, args ...any) (Event, bool) {
		m.badEvents.warn(c.opts.Logger, "control events", key, msg, append([]any{"node", m.id, "seq", key}, args...)...)
		return Event{}, false
	}
	switch {
	case r.Bad != nil:
		return skip("ignoring an unreadable control event", "err", r.Bad.Error())
	case r.Seq <= last:
		return skip("ignoring a stale control event", "last", last)
	case len(r.Reason) > MaxReason:
		return skip("ignoring a control event whose reason is longer than MaxReason", "bytes", len(r.Reason), "max_reason", MaxReason)
	}
	e := Event{Seq: r.Seq, Kind: r.Kind, Reason: r.Reason}
	switch r.Kind {
	case EventStop, EventAbort:
	case EventScale:
		if r.Concurrency < 1 || r.Concurrency > int64(c.opts.MaxScale) {
			return skip("ignoring a scale control event whose target is not in 1..MaxScale", "target", r.Concurrency, "max_scale", c.opts.MaxScale)
		}
		e.Concurrency = int(r.Concurrency)
	default:
		return skip("ignoring a control event of unknown kind", "kind", string(r.Kind))
	}
	return e, true
}
