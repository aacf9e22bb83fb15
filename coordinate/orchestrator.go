package coordinate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Orchestrator is the side that decides when a run starts and steers it
// afterwards. One orchestrator serves a run; its methods may be called
// concurrently with each other and with any number of members.
type Orchestrator interface {
	// AwaitReady blocks until the readiness rule r holds and returns the
	// ready nodes. When the rule cannot hold (the deadline passed short
	// of the quorum, or ctx ended) the error is a *ReadinessError that says
	// who is ready and who is missing.
	AwaitReady(ctx context.Context, r Readiness) ([]NodeStatus, error)
	// Start publishes the start instant at and returns the Signal as
	// published (its Events is nil: each member has its own). A run starts
	// once; a second Start returns ErrStarted.
	Start(ctx context.Context, at time.Time) (Signal, error)
	// Send sends a control event to every joined member and returns it with
	// its Seq assigned (any Seq the caller set is ignored). Seq grows with
	// every event, so members apply each event once, in order.
	Send(ctx context.Context, e Event) (Event, error)
}

// Readiness is the rule AwaitReady waits for: all Nodes ready, or, once
// Deadline has passed, at least Quorum of them.
type Readiness struct {
	// Nodes is how many nodes make "all". Zero means len(Expect).
	Nodes int
	// Quorum, if positive, is the smallest number of ready nodes the run
	// may start with once Deadline has passed. Zero means all are needed.
	Quorum int
	// Deadline, if positive, is how long AwaitReady waits for all Nodes
	// before it settles for Quorum (or gives up when Quorum is zero or not
	// met). Zero means no deadline: wait until all are ready or ctx ends.
	Deadline time.Duration
	// Expect optionally lists the IDs of the nodes that should join. When
	// set, only those nodes count as ready, and an error names the ones
	// still missing, including those that never joined.
	Expect []string
}

// Want returns the number of nodes that make "all": Nodes, or
// len(Expect) when Nodes is zero.
func (r Readiness) Want() int {
	if r.Nodes == 0 {
		return len(r.Expect)
	}
	return r.Nodes
}

// Met reports whether the rule holds with ready nodes ready: all of
// them, or, once the deadline has passed, at least Quorum. gone is how
// many of the nodes that make "all" no longer count (an orchestrator
// that goes on without lost nodes passes their number; 0 otherwise);
// when none are left to wait for, "all" never holds. Every Orchestrator's
// AwaitReady decides with Met, so that all implement one rule.
func (r Readiness) Met(ready, gone int, deadlinePassed bool) bool {
	all := r.Want() - gone
	return all > 0 && ready >= all || deadlinePassed && r.Quorum > 0 && ready >= r.Quorum
}

// NotReady builds the *ReadinessError that AwaitReady returns when rule r
// did not hold: ready are the ready nodes, missing the IDs known not to
// be ready (sorted), neverJoined the rest of the shortfall, waited how long
// AwaitReady waited, deadlinePassed whether the quorum applied, and cause
// ctx.Err() when the context ended (nil when the deadline passed).
func (r Readiness) NotReady(ready []NodeStatus, missing []string, neverJoined int, waited time.Duration, deadlinePassed bool, cause error) *ReadinessError {
	e := &ReadinessError{
		Ready:       len(ready),
		Want:        r.Want(),
		Waited:      waited,
		Missing:     missing,
		NeverJoined: neverJoined,
		Cause:       cause,
	}
	if deadlinePassed {
		e.Quorum = r.Quorum
	}
	for _, s := range ready {
		e.ReadyIDs = append(e.ReadyIDs, s.ID)
	}
	return e
}

// Validate reports the first field of r that makes no sense.
func (r Readiness) Validate() error {
	switch {
	case r.Nodes < 0:
		return fmt.Errorf("%w: Readiness.Nodes is %d, must not be negative", ErrInvalid, r.Nodes)
	case r.Nodes == 0 && len(r.Expect) == 0:
		return fmt.Errorf("%w: Readiness.Nodes is 0 and Readiness.Expect is empty: nobody to wait for", ErrInvalid)
	case len(r.Expect) > 0 && r.Nodes > len(r.Expect):
		return fmt.Errorf("%w: Readiness.Nodes is %d but Readiness.Expect lists only %d IDs", ErrInvalid, r.Nodes, len(r.Expect))
	case r.Quorum < 0:
		return fmt.Errorf("%w: Readiness.Quorum is %d, must not be negative", ErrInvalid, r.Quorum)
	case r.Quorum > r.Want():
		return fmt.Errorf("%w: Readiness.Quorum is %d, more than the %d nodes expected", ErrInvalid, r.Quorum, r.Want())
	case r.Deadline < 0:
		return fmt.Errorf("%w: Readiness.Deadline is %s, must not be negative", ErrInvalid, r.Deadline)
	case r.Quorum > 0 && r.Deadline == 0:
		return fmt.Errorf("%w: Readiness.Quorum is set but Readiness.Deadline is zero, so the quorum would never apply", ErrInvalid)
	}
	seen := make(map[string]bool, len(r.Expect))
	for i, id := range r.Expect {
		if id == "" {
			return fmt.Errorf("%w: Readiness.Expect[%d] is empty", ErrInvalid, i)
		}
		if seen[id] {
			return fmt.Errorf("%w: Readiness.Expect lists %q twice", ErrInvalid, id)
		}
		seen[id] = true
	}
	return nil
}

// NodeStatus is what the orchestrator knows about one node, with times on
// the orchestrator's clock.
type NodeStatus struct {
	ID     string
	Status Status
	// Phase is the phase the node last reported.
	Phase string
	// Ready is when the node first reported ready; zero if it has not.
	Ready time.Time
	// LastBeat is the node's last heartbeat or state report.
	LastBeat time.Time
	// Seen is when the node saw the start signal; zero if it has not.
	Seen time.Time
	// Concurrency is the node's configured number of worker goroutines.
	Concurrency int
	// Err is the error the node left with, if it failed.
	Err error
}

// ReadinessError is returned by AwaitReady when the readiness rule did not
// hold in time. errors.Is(err, ErrNotReady) is true, and so is
// errors.Is(err, context.Canceled) (or DeadlineExceeded) when ctx ended.
type ReadinessError struct {
	Ready    int           // how many nodes were ready
	Want     int           // how many make "all"
	Quorum   int           // the quorum that applied after the deadline, 0 if none
	Waited   time.Duration // how long AwaitReady waited
	ReadyIDs []string      // the ready nodes, sorted
	// Missing lists the nodes known not to be ready, sorted: the expected
	// IDs not ready when Readiness.Expect was given, else the joined nodes
	// not ready. NeverJoined counts the rest of the shortfall, whose IDs
	// are unknown.
	Missing     []string
	NeverJoined int
	// Cause is ctx.Err() when the context ended; nil when the deadline passed.
	Cause error
}

// Error says how many of how many were ready, and who.
func (e *ReadinessError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d of %d nodes ready after %s", ErrNotReady, e.Ready, e.Want, e.Waited.Round(time.Millisecond))
	if e.Cause != nil {
		fmt.Fprintf(&b, " (%v)", e.Cause)
	} else if e.Quorum > 0 {
		fmt.Fprintf(&b, " (deadline passed, quorum %d not met)", e.Quorum)
	} else {
		b.WriteString(" (deadline passed)")
	}
	fmt.Fprintf(&b, "; ready: [%s]; missing: [%s]", listIDs(e.ReadyIDs), listIDs(e.Missing))
	if e.NeverJoined > 0 {
		fmt.Fprintf(&b, " and %d that never joined", e.NeverJoined)
	}
	return b.String()
}

// Unwrap returns ErrNotReady and the cause, if any.
func (e *ReadinessError) Unwrap() []error {
	if e.Cause == nil {
		return []error{ErrNotReady}
	}
	return []error{ErrNotReady, e.Cause}
}

// maxListed bounds the IDs an error message lists, so that a fleet of
// thousands does not make a megabyte error.
const maxListed = 20

// listIDs joins ids for an error message, eliding past maxListed.
func listIDs(ids []string) string {
	if len(ids) <= maxListed {
		return strings.Join(ids, " ")
	}
	return fmt.Sprintf("%s ... %d more", strings.Join(ids[:maxListed], " "), len(ids)-maxListed)
}

// More errors, beside those in coordinate.go.
var (
	// ErrNotReady is wrapped by a *ReadinessError.
	ErrNotReady = errors.New("coordinate: nodes not ready")
	// ErrStarted is returned by Start when the run has already started.
	ErrStarted = errors.New("coordinate: start already issued")
	// ErrLeft is returned by a Member's Wait and SetState after Leave.
	ErrLeft = errors.New("coordinate: member has left")
	// ErrDuplicate is returned by Join when a node with the same ID has
	// already joined this run.
	ErrDuplicate = errors.New("coordinate: duplicate node ID")
	// ErrLost is wrapped by the error an orchestrator returns when it
	// declared nodes lost under the LostAbort policy.
	ErrLost = errors.New("coordinate: node lost")
	// ErrInvalid is wrapped by errors about bad arguments; the message
	// names the field.
	ErrInvalid = errors.New("coordinate: invalid argument")
)
