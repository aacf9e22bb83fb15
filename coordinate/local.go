package coordinate

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// LocalOptions configures a Local. The zero value works.
type LocalOptions struct {
	// Heartbeat is how often each member records a heartbeat (LastBeat).
	// Zero or negative means one second.
	Heartbeat time.Duration
	// WaitTimeout bounds Member.Wait: a worker that has waited this long
	// without a start signal gives up with ErrWaitTimeout. Zero means two
	// minutes; negative means no bound other than the Wait context.
	WaitTimeout time.Duration
}

// Default option values.
const (
	DefaultHeartbeat   = time.Second
	DefaultWaitTimeout = 2 * time.Minute
)

// eventBuffer is the capacity of a member's Events channel. Delivery never
// depends on it (each member queues without bound, see Send); it only lets a
// burst of events through without a goroutine hand-off per event.
const eventBuffer = 16

// Local is a Coordinator and an Orchestrator for workers that are
// goroutines of one process. All its methods, and those of its members, are
// safe for concurrent use.
//
// A Local serves one run: once started (or aborted) it refuses new workers;
// make a new Local for the next run.
type Local struct {
	heartbeat   time.Duration
	waitTimeout time.Duration

	// started is closed by Start, which wakes every waiting member at once;
	// signal is written before and never after, so members read it freely.
	started chan struct{}
	signal  Signal
	// ended is closed by a stop or abort sent before the start; endEvent is
	// written before and never after.
	ended    chan struct{}
	endEvent Event

	mu          sync.Mutex
	members     map[string]*localMember
	changed     chan struct{} // closed and replaced when any member's state changes
	isStarted   bool
	isEnded     bool
	seq         int64
	concurrency int       // set by a scale event before the start
	want        Readiness // the rule last passed to AwaitReady, for Wait's errors
}

var (
	_ Coordinator  = (*Local)(nil)
	_ Orchestrator = (*Local)(nil)
)

// NewLocal returns a Local configured by opts.
func NewLocal(opts LocalOptions) *Local {
	l := &Local{
		heartbeat:   cmp.Or(opts.Heartbeat, DefaultHeartbeat),
		waitTimeout: cmp.Or(opts.WaitTimeout, DefaultWaitTimeout),
		started:     make(chan struct{}),
		ended:       make(chan struct{}),
		members:     make(map[string]*localMember),
		changed:     make(chan struct{}),
	}
	if l.heartbeat < 0 {
		l.heartbeat = DefaultHeartbeat
	}
	return l
}

// Join registers w and starts its heartbeat goroutine, which runs until the
// member leaves. It refuses, with ErrLate, a worker that comes after the
// start: it would have missed the start instant and skew the measurement.
func (l *Local) Join(ctx context.Context, w Worker) (Member, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("coordinate: join worker %q: %w", w.ID, err)
	}
	if w.ID == "" {
		return nil, fmt.Errorf("%w: Worker.ID is empty", ErrInvalid)
	}
	if w.Concurrency < 0 {
		return nil, fmt.Errorf("%w: Worker.Concurrency of worker %q is %d, must not be negative", ErrInvalid, w.ID, w.Concurrency)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.isStarted:
		return nil, fmt.Errorf("%w: worker %q cannot join", ErrLate, w.ID)
	case l.isEnded:
		return nil, fmt.Errorf("worker %q cannot join: %w", w.ID, l.endError())
	}
	if _, dup := l.members[w.ID]; dup {
		return nil, fmt.Errorf("%w: %q", ErrDuplicate, w.ID)
	}
	m := &localMember{
		l: l,
		st: WorkerStatus{
			ID:          w.ID,
			Status:      StatusJoined,
			LastBeat:    time.Now(),
			Concurrency: w.Concurrency,
		},
		events: make(chan Event, eventBuffer),
		notify: make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	l.members[w.ID] = m
	l.broadcastLocked()
	go m.run(l.heartbeat)
	return m, nil
}

// AwaitReady blocks until the readiness rule r holds and returns the ready
// workers, sorted by ID. A worker is ready once it has reported
// StatusReady (or StatusRunning), or called Wait, and has not left.
func (l *Local) AwaitReady(ctx context.Context, r Readiness) ([]WorkerStatus, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	begin := time.Now()
	var deadline <-chan time.Time
	if r.Deadline > 0 {
		t := time.NewTimer(r.Deadline)
		defer t.Stop()
		deadline = t.C
	}
	passed := false
	for {
		l.mu.Lock()
		l.want = r
		ended := l.isEnded
		ready, missing, never := l.readinessLocked(r)
		changed := l.changed
		l.mu.Unlock()

		if ended {
			return nil, l.endError()
		}
		if r.Met(len(ready), 0, passed) {
			return ready, nil
		}
		notReady := func(cause error) error {
			return r.NotReady(ready, missing, never, time.Since(begin), passed, cause)
		}
		if passed {
			return nil, notReady(nil)
		}
		select {
		case <-changed:
		case <-deadline:
			passed = true
		case <-ctx.Done():
			return nil, notReady(ctx.Err())
		}
	}
}

// Start publishes the start instant at, waking every waiting member at once
// (they share one channel, closed here). at may be in the past: the members
// then start at once. A scale event sent before the start sets the
// Signal's Concurrency.
func (l *Local) Start(ctx context.Context, at time.Time) (Signal, error) {
	if err := ctx.Err(); err != nil {
		return Signal{}, fmt.Errorf("coordinate: start: %w", err)
	}
	if at.IsZero() {
		return Signal{}, fmt.Errorf("%w: start instant at is zero", ErrInvalid)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.isStarted:
		return Signal{}, fmt.Errorf("%w (at %s)", ErrStarted, l.signal.At.Format(time.RFC3339Nano))
	case l.isEnded:
		return Signal{}, l.endError()
	}
	l.signal = Signal{At: at, Published: time.Now(), Concurrency: l.concurrency}
	l.isStarted = true
	close(l.started)
	return l.signal, nil
}

// StartWhenReady waits for r (see AwaitReady), then starts the run lead
// from now. The lead gives every member time to learn of the start before
// the start instant, so that they all begin together.
func (l *Local) StartWhenReady(ctx context.Context, r Readiness, lead time.Duration) (Signal, error) {
	if lead < 0 {
		return Signal{}, fmt.Errorf("%w: lead is %s, must not be negative", ErrInvalid, lead)
	}
	if _, err := l.AwaitReady(ctx, r); err != nil {
		return Signal{}, err
	}
	return l.Start(ctx, time.Now().Add(lead))
}

// Send assigns e the next Seq and delivers it to every member that has not
// left.
//
// Before the start, no member is reading events yet: a stop or abort then
// ends the run before it begins (every Wait returns ErrAborted, with the
// event's kind and reason), and a scale sets the Concurrency of the Signal
// that Start will publish.
//
// After the start, Send never blocks on a slow member and never drops an
// event: each member keeps its own unbounded queue, which its goroutine
// feeds into the member's Events channel in Seq order. A member that never
// reads costs memory, not the orchestrator's time; its queue is discarded
// when it leaves.
func (l *Local) Send(ctx context.Context, e Event) (Event, error) {
	if err := ctx.Err(); err != nil {
		return Event{}, fmt.Errorf("coordinate: send %s: %w", e.Kind, err)
	}
	switch e.Kind {
	case EventStop, EventAbort:
	case EventScale:
		if e.Concurrency <= 0 {
			return Event{}, fmt.Errorf("%w: Event.Concurrency is %d, must be positive for a scale event", ErrInvalid, e.Concurrency)
		}
	default:
		return Event{}, fmt.Errorf("%w: Event.Kind %q is not stop, abort or scale", ErrInvalid, e.Kind)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	e.Seq = l.seq
	if !l.isStarted {
		switch {
		case e.Kind == EventScale:
			l.concurrency = e.Concurrency
		case !l.isEnded:
			l.endEvent = e
			l.isEnded = true
			close(l.ended)
			l.broadcastLocked()
		}
		return e, nil
	}
	// Queued under l.mu, so concurrent Sends reach every member in the
	// same Seq order.
	for _, m := range l.members {
		if m.left {
			continue
		}
		m.queue = append(m.queue, e)
		select {
		case m.notify <- struct{}{}:
		default: // already notified
		}
	}
	return e, nil
}

// Members returns the state of every worker that joined, including those
// that left, sorted by ID.
func (l *Local) Members() []WorkerStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]WorkerStatus, 0, len(l.members))
	for _, m := range l.members {
		out = append(out, m.st)
	}
	slices.SortFunc(out, func(a, b WorkerStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// readinessLocked returns, for rule r, the ready workers, the IDs known not
// to be ready, and how many more are missing whose IDs are unknown. All
// sorted by ID.
func (l *Local) readinessLocked(r Readiness) (ready []WorkerStatus, missing []string, never int) {
	if len(r.Expect) > 0 {
		for _, id := range r.Expect {
			if m, ok := l.members[id]; ok && m.ready() {
				ready = append(ready, m.st)
			} else {
				missing = append(missing, id)
			}
		}
		slices.SortFunc(ready, func(a, b WorkerStatus) int { return cmp.Compare(a.ID, b.ID) })
		slices.Sort(missing)
		return ready, missing, 0
	}
	for _, m := range l.members {
		if m.ready() {
			ready = append(ready, m.st)
		} else {
			missing = append(missing, m.st.ID)
		}
	}
	slices.SortFunc(ready, func(a, b WorkerStatus) int { return cmp.Compare(a.ID, b.ID) })
	slices.Sort(missing)
	return ready, missing, max(0, r.Want()-len(ready)-len(missing))
}

// broadcastLocked wakes every AwaitReady.
func (l *Local) broadcastLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// endError describes the stop or abort that ended the run before its start.
// It is called only after ended is closed.
func (l *Local) endError() error {
	if l.endEvent.Reason == "" {
		return fmt.Errorf("%w before start (%s event %d)", ErrAborted, l.endEvent.Kind, l.endEvent.Seq)
	}
	return fmt.Errorf("%w before start (%s event %d): %s", ErrAborted, l.endEvent.Kind, l.endEvent.Seq, l.endEvent.Reason)
}

// localMember is a Member of a Local.
type localMember struct {
	l *Local

	// Guarded by l.mu.
	st    WorkerStatus
	left  bool
	queue []Event // events not yet taken by run

	events chan Event    // closed by run when it returns
	notify chan struct{} // capacity 1: queue has events
	stop   chan struct{} // closed by Leave
	done   chan struct{} // closed when run has returned
}

// ready reports whether m counts as ready. l.mu is held.
func (m *localMember) ready() bool {
	return !m.left && (m.st.Status == StatusReady || m.st.Status == StatusRunning)
}

// run is the member's own goroutine: it records heartbeats and moves queued
// events into the Events channel, until Leave. It is the only sender on
// events, so it is the one that closes it.
func (m *localMember) run(every time.Duration) {
	defer close(m.done)
	defer close(m.events)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var pending []Event // taken from queue, owned by this goroutine
	for {
		var out chan<- Event // nil, so never chosen, while nothing is pending
		var next Event
		if len(pending) > 0 {
			out, next = m.events, pending[0]
		}
		select {
		case <-m.stop:
			return
		case now := <-tick.C:
			m.l.mu.Lock()
			m.st.LastBeat = now
			m.l.mu.Unlock()
		case <-m.notify:
			m.l.mu.Lock()
			pending = append(pending, m.queue...)
			m.queue = m.queue[:0]
			m.l.mu.Unlock()
		case out <- next:
			pending[0] = Event{}
			pending = pending[1:]
		}
	}
}

// Wait blocks until the start, an abort before it, ctx's end, or the wait
// timeout. A member that waits is ready: if it has not reported
// StatusReady yet, Wait does so. All members wait on one channel, which
// Start closes, so a start wakes them together.
func (m *localMember) Wait(ctx context.Context) (Signal, error) {
	l := m.l
	l.mu.Lock()
	if m.left {
		l.mu.Unlock()
		return Signal{}, fmt.Errorf("%w: worker %q cannot wait", ErrLeft, m.st.ID)
	}
	if m.st.Status == StatusJoined {
		m.setLocked(State{Status: StatusReady, Phase: m.st.Phase}, time.Now())
	}
	id := m.st.ID
	l.mu.Unlock()

	var timeout <-chan time.Time
	if l.waitTimeout > 0 {
		t := time.NewTimer(l.waitTimeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-l.started:
		sig := l.signal
		sig.Events = m.events
		return sig, nil
	case <-l.ended:
		return Signal{}, l.endError()
	case <-ctx.Done():
		return Signal{}, fmt.Errorf("coordinate: worker %q waiting for the start signal: %w", id, ctx.Err())
	case <-timeout:
		return Signal{}, l.waitTimeoutError(id)
	}
}

// waitTimeoutError says how long worker id waited and who was not ready.
func (l *Local) waitTimeoutError(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.want
	if r.Want() == 0 { // AwaitReady not called: "all" is whoever joined
		r = Readiness{Workers: len(l.members)}
	}
	ready, missing, never := l.readinessLocked(r)
	msg := fmt.Sprintf("%v: worker %q waited %s; start not issued; %d of %d workers ready; not ready: [%s]",
		ErrWaitTimeout, id, l.waitTimeout, len(ready), r.Want(), listIDs(missing))
	if never > 0 {
		msg += fmt.Sprintf(" and %d that never joined", never)
	}
	return &waitTimeoutError{msg: msg}
}

// waitTimeoutError carries a message built once and wraps ErrWaitTimeout.
type waitTimeoutError struct{ msg string }

func (e *waitTimeoutError) Error() string { return e.msg }
func (e *waitTimeoutError) Unwrap() error { return ErrWaitTimeout }

// SetState records s and counts as a heartbeat.
func (m *localMember) SetState(ctx context.Context, s State) error {
	switch s.Status {
	case StatusJoined, StatusReady, StatusRunning, StatusDone, StatusFailed, StatusLost:
	default:
		return fmt.Errorf("%w: State.Status %q is not a known status", ErrInvalid, s.Status)
	}
	l := m.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if m.left {
		return fmt.Errorf("%w: worker %q cannot set state %s", ErrLeft, m.st.ID, s.Status)
	}
	m.setLocked(s, time.Now())
	return nil
}

// setLocked records s at now and wakes AwaitReady. l.mu is held.
func (m *localMember) setLocked(s State, now time.Time) {
	m.st.Status, m.st.Phase, m.st.LastBeat = s.Status, s.Phase, now
	if m.st.Ready.IsZero() && (s.Status == StatusReady || s.Status == StatusRunning) {
		m.st.Ready = now
	}
	m.l.broadcastLocked()
}

// Leave records the final state (StatusFailed if err is not nil, else
// StatusDone), stops the member's goroutine, waits for it to return, and so
// closes Events; events not yet delivered are dropped with the member. It
// waits for nothing else, so ctx is not consulted. Leave may be called
// again; later calls only wait for the goroutine too.
func (m *localMember) Leave(ctx context.Context, err error) error {
	l := m.l
	l.mu.Lock()
	if !m.left {
		m.left = true
		m.queue = nil
		final := StatusDone
		if err != nil {
			final = StatusFailed
		}
		m.st.Err = err
		m.setLocked(State{Status: final, Phase: m.st.Phase}, time.Now())
		close(m.stop)
	}
	l.mu.Unlock()
	<-m.done
	return nil
}
