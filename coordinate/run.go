package coordinate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/startline/startline/timing"
)

// OrchestratorNode is the Node of an orchestrator's timeline.
const OrchestratorNode = "orchestrator"

// Run is the orchestrator's side of the kit over a Backend: it creates one
// run, waits for the nodes under a Readiness rule, publishes the start,
// steers the run with control events, declares lost the nodes that stop
// beating and applies the LostPolicy. It implements Orchestrator; its
// methods are safe for concurrent use.
//
// It records its own timeline (node "orchestrator", with its clock offset
// against the reference clock): the readiness wait (coord.ready), the
// publication of the start (coord.publish, whose Detail names the backend:
// "coordinator=sql"), the start instant (coord.start), when each node saw
// the start (coord.seen) and lost nodes (coord.lost). loadtest.MergeWith
// puts it and the nodes' results on one axis.
type Run struct {
	b       Backend
	opts    Options
	watcher Watcher
	offset  time.Duration
	bound   time.Duration
	rec     *timing.Recorder

	mu      sync.Mutex // serializes the run's writes and its events: Seqs and the record change in order
	rr      RunRecord  // the record as last written
	seq     int64      // the last Seq sent
	started bool
	at      time.Time // T, on this host's clock
	aborted bool
	endErr  error         // why the run ended before its start
	ended   chan struct{} // closed when aborted

	nmu       sync.Mutex // guards lost, seen, noted, firstRead, lag, nodeBound, startAt and lateOnce
	lost      map[string]bool
	seen      map[string]bool
	noted     map[string]bool // ready nodes whose readiness lag was taken
	firstRead time.Time       // when the first read of the nodes began, reference clock
	lag       time.Duration   // the longest readiness lag (see MinLead)
	nodeBound time.Duration   // the largest clock bound of a ready node
	startAt   time.Time       // T once published, on this host's clock
	lateOnce  bool            // a late sighting was logged
	badNodes  warnOnce
}

var (
	_ Orchestrator = (*Run)(nil)
	_ Clocked      = (*Run)(nil)
)

// NewRun validates opts, measures the clock offset against the backend's
// reference clock (if it has one) and creates the run in b (status
// WAITING). A run that already has a record gets an error wrapping
// ErrRunExists.
func NewRun(ctx context.Context, b Backend, opts Options) (*Run, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: the Backend is nil", ErrInvalid)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.ClockSkew != 0 {
		return nil, fmt.Errorf("%w: Options.ClockSkew is %s: a skew is simulated on the node side (NewClient); the orchestrator's clock is the one the nodes' are measured against", ErrInvalid, opts.ClockSkew)
	}
	o := &Run{
		b: b, opts: opts,
		rec:   timing.NewRecorder(OrchestratorNode, 64),
		ended: make(chan struct{}),
		lost:  map[string]bool{}, seen: map[string]bool{}, noted: map[string]bool{},
	}
	o.watcher, _ = b.(Watcher)
	if c, ok := b.(Clock); ok {
		if o.offset, o.bound, err = measureClock(ctx, c, opts.ClockSamples, 0); err != nil {
			return nil, fmt.Errorf("coordinate: creating the run: %w", err)
		}
	}
	o.rec.SetClockOffset(o.offset, o.bound)
	o.rr = RunRecord{Status: RunWaiting, Created: o.ref(time.Now())}
	if err := b.PutRun(ctx, o.rr, ""); err != nil {
		return nil, fmt.Errorf("coordinate: creating the run: %w", err)
	}
	return o, nil
}

// Name returns the backend's name, as a merged result reports it.
func (o *Run) Name() string { return o.b.Name() }

// ClockOffset returns how far the orchestrator's clock runs ahead of the
// reference clock, and the bound on that estimate.
func (o *Run) ClockOffset() (offset, bound time.Duration) { return o.offset, o.bound }

// Timeline returns the orchestrator's timeline so far.
func (o *Run) Timeline() timing.Timeline { return o.rec.Timeline() }

// ref converts a time on this host's clock to the reference clock.
func (o *Run) ref(t time.Time) time.Time { return t.Add(-o.offset) }

// watch subscribes to topic, or returns nil (then the kit polls).
func (o *Run) watch(ctx context.Context, topic Topic) Subscription {
	if o.watcher == nil {
		return nil
	}
	s, err := o.watcher.Watch(ctx, topic)
	if err != nil {
		o.opts.Logger.Warn("coordinate: subscribing failed; polling only", "err", err)
		return nil
	}
	return s
}

// wake returns s's channel, or nil (never ready) for no subscription.
func wake(s Subscription) <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.C()
}

// status converts a record to what the orchestrator reports, with times on
// a clock offset ahead of the reference clock.
func (n NodeRecord) status(offset time.Duration) NodeStatus {
	local := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.Add(offset)
	}
	return NodeStatus{
		ID: n.ID, Status: n.Status, Phase: n.Phase, Concurrency: n.Concurrency,
		Ready: local(n.Ready), LastBeat: local(n.Beat), Seen: local(n.Seen), Err: n.Err,
	}
}

// nodes reads the nodes, passes over (and warns once about) the records
// the backend could not decode, shows the nodes declared lost as LOST,
// records when each node saw the start, and sorts them by ID.
func (o *Run) nodes(ctx context.Context) ([]NodeRecord, error) {
	began := o.ref(time.Now())
	recs, err := o.b.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	read := o.ref(time.Now())
	out := recs[:0:0]
	o.nmu.Lock()
	defer o.nmu.Unlock()
	if o.firstRead.IsZero() {
		o.firstRead = began
	}
	for _, n := range recs {
		if n.Bad != nil {
			o.badNodes.warn(o.opts.Logger, "node records", n.ID, "ignoring an unreadable node record", "node", n.ID, "err", n.Bad.Error())
			continue
		}
		if !n.Ready.IsZero() && !o.noted[n.ID] {
			// The first read that shows the node ready: if it became ready
			// after the orchestrator's first read began, this is how long
			// its report took to reach the orchestrator.
			o.noted[n.ID] = true
			if n.Ready.After(o.firstRead) {
				o.lag = max(o.lag, min(read.Sub(n.Ready), o.opts.Heartbeat))
			}
			o.nodeBound = max(o.nodeBound, n.ClockError)
		}
		if o.lost[n.ID] {
			n.Status = StatusLost
		}
		if !n.Seen.IsZero() && !o.seen[n.ID] {
			o.seen[n.ID] = true
			seen := n.Seen.Add(o.offset)
			at := o.rec.Offset(seen)
			m := timing.Mark{Phase: timing.CoordSeen, Worker: timing.Process, Start: at, End: at, Node: n.ID}
			if late := seen.Sub(o.startAt); !o.startAt.IsZero() && late > 0 {
				// The check of the lead: this node learned of the start
				// after T, and started late.
				m.Detail = "after T by " + late.Round(time.Microsecond).String()
				if !o.lateOnce {
					o.lateOnce = true
					o.opts.Logger.Warn("coordinate: a node saw the start after T: the lead was shorter than the start's fan-out",
						"node", n.ID, "after_t", late, "min_lead", o.minLeadLocked())
				}
			}
			o.rec.Record(m)
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b NodeRecord) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// statuses converts records.
func (o *Run) statuses(recs []NodeRecord) []NodeStatus {
	out := make([]NodeStatus, len(recs))
	for i, n := range recs {
		out[i] = n.status(o.offset)
	}
	return out
}

// Nodes returns the state of every node that joined the run, sorted by ID,
// with times on the orchestrator's clock.
func (o *Run) Nodes(ctx context.Context) ([]NodeStatus, error) {
	recs, err := o.nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("coordinate: reading the nodes: %w", err)
	}
	return o.statuses(recs), nil
}

// readiness splits nodes by rule r: the ready ones, the IDs known not to
// be ready (lost ones included, sorted), and how many of those counted
// were lost.
func readiness(nodes []NodeStatus, r Readiness) (ready []NodeStatus, missing []string, lost int) {
	byID := make(map[string]NodeStatus, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	ids := r.Expect
	if len(ids) == 0 {
		for _, n := range nodes {
			ids = append(ids, n.ID)
		}
	}
	for _, id := range ids {
		n, ok := byID[id]
		switch {
		case ok && n.Status.ready():
			ready = append(ready, n)
		case ok && n.Status == StatusLost:
			lost++
			missing = append(missing, id)
		default:
			missing = append(missing, id)
		}
	}
	slices.SortFunc(ready, func(a, b NodeStatus) int { return cmp.Compare(a.ID, b.ID) })
	slices.Sort(missing)
	return ready, missing, lost
}

// ended reports why the run ended before its start, or nil.
func (o *Run) endedErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.endErr
}

// AwaitReady implements Orchestrator: it reads the nodes at every change
// the backend signals and every Poll until the readiness rule r holds,
// declaring lost nodes on the way (see CheckLost and Options.OnLost).
// Under LostContinue a lost node is taken off the number that makes
// "all". It records r in the run's record first, so that a member that
// times out can say who was missing.
func (o *Run) AwaitReady(ctx context.Context, r Readiness) ([]NodeStatus, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	begin := o.rec.Now()
	ready, err := o.awaitReady(ctx, r)
	o.rec.Span(timing.CoordReady, timing.Process, begin, err)
	return ready, err
}

func (o *Run) awaitReady(ctx context.Context, r Readiness) ([]NodeStatus, error) {
	o.expect(ctx, r)
	sub := o.watch(ctx, TopicNodes)
	if sub != nil {
		defer sub.Close()
	}
	start := time.Now()
	var deadline <-chan time.Time
	if r.Deadline > 0 {
		t := time.NewTimer(r.Deadline)
		defer t.Stop()
		deadline = t.C
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	want := r.Want()
	passed, failures, never := false, 0, 0
	var ready []NodeStatus
	var missing []string
	for {
		if err := o.endedErr(); err != nil {
			return nil, fmt.Errorf("coordinate: %s: %w", timing.CoordReady, err)
		}
		recs, err := o.nodes(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			o.opts.Logger.Warn("coordinate: reading the nodes failed", "attempt", failures+1, "err", err)
			if failures++; failures > o.opts.Retries {
				return nil, fmt.Errorf("coordinate: %s: reading the nodes failed %d times in a row: %w", timing.CoordReady, failures, err)
			}
		case err == nil:
			failures = 0
			if _, err := o.checkLost(ctx, recs); err != nil {
				return nil, fmt.Errorf("coordinate: %s: %w", timing.CoordReady, err)
			}
			var lostN int
			ready, missing, lostN = readiness(o.statuses(recs), r)
			gone := 0
			if o.opts.OnLost == LostContinue {
				gone = lostN
			}
			never = 0
			if len(r.Expect) == 0 {
				never = max(0, want-gone-len(ready)-len(missing))
			}
			if r.Met(len(ready), gone, passed) {
				return ready, nil
			}
		}
		if passed {
			return nil, r.NotReady(ready, missing, never, time.Since(start), passed, nil)
		}
		timer.Reset(o.opts.Poll)
		select {
		case <-timer.C:
		case <-wake(sub):
		case <-o.ended:
		case <-deadline:
			passed = true
		case <-ctx.Done():
			ready, missing, never = o.lastLook(ctx, r, ready, missing, never)
			return nil, r.NotReady(ready, missing, never, time.Since(start), passed, ctx.Err())
		}
	}
}

// lastLook reads the nodes once more after ctx ended, bounded by
// diagnosisTimeout, so that the error says who was ready and who missing
// even when the wait ended before its first read; it returns what it had
// if that read fails.
func (o *Run) lastLook(ctx context.Context, r Readiness, ready []NodeStatus, missing []string, never int) ([]NodeStatus, []string, int) {
	recs, err := o.diagnose(ctx)
	if err != nil {
		return ready, missing, never
	}
	ready, missing, lostN := readiness(o.statuses(recs), r)
	gone := 0
	if o.opts.OnLost == LostContinue {
		gone = lostN
	}
	never = 0
	if len(r.Expect) == 0 {
		never = max(0, r.Want()-gone-len(ready)-len(missing))
	}
	return ready, missing, never
}

// diagnose reads the nodes with a context of its own, for an error's
// account of them after ctx ended.
func (o *Run) diagnose(ctx context.Context) ([]NodeRecord, error) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnosisTimeout)
	defer cancel()
	return o.nodes(dctx)
}

// expect records rule r in the run's record while the run waits. A failure
// costs only the wording of a member's timeout, so it is logged, not
// returned.
func (o *Run) expect(ctx context.Context, r Readiness) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.started || o.aborted {
		return
	}
	rr := o.rr
	rr.Want, rr.Expect = r.Want(), slices.Clone(r.Expect)
	if err := o.b.PutRun(ctx, rr, RunWaiting); err != nil {
		o.opts.Logger.Warn("coordinate: recording the readiness rule failed", "err", err)
		return
	}
	o.rr = rr
}

// CheckLost declares lost every node, not yet done, failed or lost, whose
// last heartbeat is older than MissedBeats*Heartbeat, and applies the
// OnLost policy. It returns the nodes newly declared lost; under LostAbort
// the error wraps ErrLost when there are any. AwaitReady and AwaitDone
// call it on every read; call it yourself to watch a run otherwise.
func (o *Run) CheckLost(ctx context.Context) ([]string, error) {
	recs, err := o.nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("coordinate: reading the nodes: %w", err)
	}
	return o.checkLost(ctx, recs)
}

func (o *Run) checkLost(ctx context.Context, recs []NodeRecord) ([]string, error) {
	if o.opts.MissedBeats < 0 {
		return nil, nil
	}
	budget := time.Duration(o.opts.MissedBeats) * o.opts.Heartbeat
	now := o.ref(time.Now())
	var lost []string
	for i, n := range recs {
		if n.Status.final() || now.Sub(n.Beat) <= budget {
			continue
		}
		err := o.b.PutNode(ctx, NodeRecord{ID: n.ID}, NodeLost)
		if errors.Is(err, ErrConflict) {
			continue // it left meanwhile
		}
		if err != nil {
			return lost, fmt.Errorf("coordinate: declaring node %q lost: %w", n.ID, err)
		}
		recs[i].Status = StatusLost
		lost = append(lost, n.ID)
		ago := now.Sub(n.Beat)
		at := o.rec.Now()
		o.rec.Record(timing.Mark{Phase: timing.CoordLost, Worker: timing.Process, Start: at, End: at, Node: n.ID,
			Detail: fmt.Sprintf("last beat %s ago", ago.Round(time.Millisecond))})
		o.nmu.Lock()
		o.lost[n.ID] = true
		o.nmu.Unlock()
		o.opts.Logger.Warn("coordinate: node lost", "node", n.ID, "last_beat_ago", ago, "policy", o.opts.OnLost.String())
	}
	if len(lost) == 0 || o.opts.OnLost == LostContinue {
		return lost, nil
	}
	reason := fmt.Sprintf("nodes lost: [%s]", listIDs(lost))
	if _, err := o.Send(ctx, Event{Kind: EventAbort, Reason: reason}); err != nil && !errors.Is(err, ErrAborted) {
		return lost, errors.Join(fmt.Errorf("%w: [%s] (policy abort)", ErrLost, listIDs(lost)), err)
	}
	return lost, fmt.Errorf("%w: [%s] missed %d heartbeats (policy abort: run aborted)", ErrLost, listIDs(lost), o.opts.MissedBeats)
}

// Lost returns the nodes declared lost so far, sorted.
func (o *Run) Lost() []string {
	o.nmu.Lock()
	defer o.nmu.Unlock()
	out := make([]string, 0, len(o.lost))
	for id := range o.lost {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Start implements Orchestrator: it writes the start instant at (on the
// orchestrator's clock; stored on the reference clock) into the run's
// record, which wakes the members. at may be in the past: the members then
// start at once. A scale sent before the start sets the Signal's
// Concurrency. A second Start gets ErrStarted; a Start after an abort gets
// ErrAborted.
func (o *Run) Start(ctx context.Context, at time.Time) (Signal, error) {
	if at.IsZero() {
		return Signal{}, fmt.Errorf("%w: start instant at is zero", ErrInvalid)
	}
	return o.start(ctx, func(time.Time) time.Time { return at })
}

// start publishes the start at the instant that instant returns for the
// moment of publication.
func (o *Run) start(ctx context.Context, instant func(published time.Time) time.Time) (Signal, error) {
	if err := ctx.Err(); err != nil {
		return Signal{}, fmt.Errorf("coordinate: start: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.started:
		return Signal{}, fmt.Errorf("%w (at %s)", ErrStarted, o.at.Format(time.RFC3339Nano))
	case o.aborted:
		return Signal{}, fmt.Errorf("coordinate: start: %w", o.endErr)
	}
	published := time.Now()
	at := instant(published)
	if least := o.MinLead(); at.Sub(published) < least {
		o.opts.Logger.Warn("coordinate: the start's lead is shorter than the fleet was measured to need; nodes may learn of it after T",
			"lead", at.Sub(published), "min_lead", least)
	}
	pubOff := o.rec.Offset(published)
	rr := o.rr
	rr.Status, rr.Published, rr.At, rr.StartSeq = RunStarted, o.ref(published), o.ref(at), o.seq
	if err := o.b.PutRun(ctx, rr, RunWaiting); err != nil {
		return Signal{}, fmt.Errorf("coordinate: publishing the start: %w", err)
	}
	o.rr, o.started, o.at = rr, true, at
	o.nmu.Lock()
	o.startAt = at
	o.nmu.Unlock()
	o.rec.Record(timing.Mark{Phase: timing.CoordPublish, Worker: timing.Process, Start: pubOff, End: o.rec.Now(),
		Detail: "coordinator=" + o.b.Name()})
	o.rec.Instant(timing.CoordStart, timing.Process, o.rec.Offset(at))
	return Signal{At: at, Published: published, Concurrency: int(rr.Concurrency)}, nil
}

// StartWhenReady waits for r (see AwaitReady), then starts the run lead
// from now. The lead gives every member time to learn of the start before
// the start instant, so that they all begin together: about one Poll for a
// backend that is polled, a few milliseconds for one that watches, more
// for a large fleet. A lead shorter than MinLead is raised to it (and the
// Logger told at level Info), so that no member learns of the start after
// T; a lead of 0 thus means "as soon as every node can have learned of
// it".
func (o *Run) StartWhenReady(ctx context.Context, r Readiness, lead time.Duration) (Signal, error) {
	if lead < 0 {
		return Signal{}, fmt.Errorf("%w: lead is %s, must not be negative", ErrInvalid, lead)
	}
	if _, err := o.AwaitReady(ctx, r); err != nil {
		return Signal{}, err
	}
	if least := o.MinLead(); lead < least {
		o.opts.Logger.Info("coordinate: lead raised to what the fleet was measured to need", "lead", lead, "min_lead", least)
		lead = least
	}
	return o.start(ctx, func(published time.Time) time.Time { return published.Add(lead) })
}

// MinLead is the least lead, from the publication of the start to T, that
// the orchestrator measured its nodes to need while it waited for them to
// be ready: twice the longest time a node's report of ready took to reach
// it (the path from the nodes through the backend to the orchestrator,
// loaded by the fleet reporting at once; the start travels the other way,
// to every node, and is given as long again), plus the largest clock
// bound of a ready node and the orchestrator's own (how far a node's T may
// lie before the orchestrator's), plus the millisecond before T at which a
// member's Wait returns. A node's report counts only if the node became
// ready after the orchestrator's first read of the nodes began (usually
// its AwaitReady), so that nodes ready long before do not count as slow,
// and counts at most one Heartbeat, so that a node whose write waited out
// an outage does not hold the fleet's start for as long. StartWhenReady raises a
// shorter lead to it, and Start warns when given an instant closer than
// it. The orchestrator checks the lead afterwards too: a node whose
// sighting of the start (its coord.seen mark) comes after T gets a Detail
// saying by how much, and the first such is logged.
func (o *Run) MinLead() time.Duration {
	o.nmu.Lock()
	defer o.nmu.Unlock()
	return o.minLeadLocked()
}

func (o *Run) minLeadLocked() time.Duration { return 2*o.lag + o.nodeBound + o.bound + spinWindow }

// Send implements Orchestrator: it appends e to the backend's events with
// the next Seq and returns it with that Seq.
//
// Before the start, and before T of a published start, a stop or abort
// ends the run before it begins: the run's record becomes ABORTED (a
// published start is withdrawn), every member's Wait fails with ErrAborted
// and the event's kind and reason, and Start, AwaitReady and Send fail
// with ErrAborted from then on; members that had already passed their
// last look before T get the event. Before the start a scale sets the
// Concurrency of the Signal that Start will publish. After the start the
// members read the event at the next change or poll.
func (o *Run) Send(ctx context.Context, e Event) (Event, error) {
	if err := ctx.Err(); err != nil {
		return Event{}, fmt.Errorf("coordinate: send %s: %w", e.Kind, err)
	}
	switch e.Kind {
	case EventStop, EventAbort:
	case EventScale:
		if e.Concurrency <= 0 || e.Concurrency > o.opts.MaxScale {
			return Event{}, fmt.Errorf("%w: Event.Concurrency is %d, must be in 1..%d (Options.MaxScale) for a scale event", ErrInvalid, e.Concurrency, o.opts.MaxScale)
		}
	default:
		return Event{}, fmt.Errorf("%w: Event.Kind %q is not stop, abort or scale", ErrInvalid, e.Kind)
	}
	if len(e.Reason) > MaxReason {
		return Event{}, fmt.Errorf("%w: Event.Reason is %d bytes, more than %d (MaxReason)", ErrInvalid, len(e.Reason), MaxReason)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.aborted {
		return Event{}, fmt.Errorf("coordinate: send %s: %w", e.Kind, o.endErr)
	}
	seq, err := o.b.AddEvent(ctx, EventRecord{Kind: e.Kind, Concurrency: int64(e.Concurrency), Reason: e.Reason, Created: o.ref(time.Now())})
	if err != nil {
		return Event{}, fmt.Errorf("coordinate: send %s: %w", e.Kind, err)
	}
	if seq <= o.seq {
		// Members apply events in Seq order: one numbered below its
		// predecessor would never be applied.
		return Event{}, fmt.Errorf("coordinate: send %s: the backend numbered it %d, not above the last (%d)", e.Kind, seq, o.seq)
	}
	e.Seq, o.seq = seq, seq
	beforeT := !o.started || time.Now().Before(o.at)
	switch {
	case e.Kind == EventScale && !o.started:
		rr := o.rr
		rr.Concurrency = int64(e.Concurrency)
		if err := o.b.PutRun(ctx, rr, RunWaiting); err != nil {
			return e, fmt.Errorf("coordinate: send %s: updating the run's record: %w", e.Kind, err)
		}
		o.rr = rr
	case e.Kind != EventScale && beforeT:
		from := RunWaiting
		if o.started {
			from = RunStarted
		}
		rr := o.rr
		rr.Status, rr.Reason = RunAborted, fmt.Sprintf("%s event %d", e.Kind, e.Seq)
		if e.Reason != "" {
			rr.Reason += ": " + e.Reason
		}
		if err := o.b.PutRun(ctx, rr, from); err != nil {
			return e, fmt.Errorf("coordinate: send %s: updating the run's record: %w", e.Kind, err)
		}
		o.rr, o.aborted, o.endErr = rr, true, abortedError("", rr.Reason)
		close(o.ended)
	}
	return e, nil
}

// AwaitDone waits until every node that joined has left the run (DONE or
// FAILED) or has been declared lost, reading the nodes at every change and
// every Poll and declaring lost nodes on the way (see CheckLost), and
// returns them, sorted by ID. It records, on the orchestrator's timeline,
// when each node saw the start. Under LostAbort, lost nodes make the error
// wrap ErrLost (the run was aborted); when ctx ends first, the error names
// the nodes still running.
func (o *Run) AwaitDone(ctx context.Context) ([]NodeStatus, error) {
	sub := o.watch(ctx, TopicNodes)
	if sub != nil {
		defer sub.Close()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	failures := 0
	var lostErr error
	var last []NodeRecord
	for {
		recs, err := o.nodes(ctx)
		switch {
		case err == nil:
			failures = 0
			if _, lerr := o.checkLost(ctx, recs); lerr != nil && lostErr == nil {
				lostErr = lerr
			}
			last = recs
			if len(running(recs)) == 0 {
				return o.statuses(recs), o.lostError(lostErr)
			}
		case ctx.Err() == nil:
			o.opts.Logger.Warn("coordinate: reading the nodes failed", "attempt", failures+1, "err", err)
			if failures++; failures > o.opts.Retries {
				return o.statuses(last), errors.Join(fmt.Errorf("coordinate: awaiting the nodes: reading them failed %d times in a row: %w", failures, err), o.lostError(lostErr))
			}
		}
		timer.Reset(o.opts.Poll)
		select {
		case <-timer.C:
		case <-wake(sub):
		case <-ctx.Done():
			if recs, err := o.diagnose(ctx); err == nil {
				last = recs
			}
			return o.statuses(last), errors.Join(
				fmt.Errorf("coordinate: awaiting the nodes: still running: [%s]: %w", listIDs(running(last)), ctx.Err()),
				o.lostError(lostErr))
		}
	}
}

// running returns the IDs of the nodes that have not left.
func running(recs []NodeRecord) []string {
	var out []string
	for _, n := range recs {
		if !n.Status.final() {
			out = append(out, n.ID)
		}
	}
	return out
}

// lostError is err, or, when nodes were declared lost before (by
// AwaitReady or CheckLost) under LostAbort, an error saying so: the run
// was aborted all the same.
func (o *Run) lostError(err error) error {
	if err != nil || o.opts.OnLost != LostAbort {
		return err
	}
	if lost := o.Lost(); len(lost) > 0 {
		return fmt.Errorf("%w: [%s] (policy abort: run aborted)", ErrLost, listIDs(lost))
	}
	return nil
}
