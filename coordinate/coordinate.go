package coordinate

import (
	"context"
	"errors"
	"time"

	"github.com/startline/startline/timing"
)

// Coordinator is the node side of the start barrier. Join may be called
// concurrently by many nodes.
type Coordinator interface {
	// Join announces a node and starts its heartbeat, which goes on until
	// the returned Member leaves.
	Join(ctx context.Context, n Node) (Member, error)
}

// Member is one joined node. Its methods are called from one goroutine at a
// time (the Runner's), except that Signal.Events is read concurrently.
type Member interface {
	// Wait blocks until the start signal, the context ends, or the
	// coordinator's wait timeout passes; heartbeats go on meanwhile.
	Wait(ctx context.Context) (Signal, error)
	// SetState reports the node's state and current phase; the
	// coordinator publishes it at once or with the next heartbeat.
	SetState(ctx context.Context, s State) error
	// Leave stops the heartbeat, records the final state (err says whether
	// the node failed) and closes the signal's Events channel.
	Leave(ctx context.Context, err error) error
}

// Node identifies a participant of a coordinated run to the coordinator: a
// process (a loadtest Runner), which runs Concurrency worker goroutines of
// its own.
type Node struct {
	// ID is unique within a run: 1 to MaxNodeID bytes.
	ID string
	// Concurrency is the number of worker goroutines the node will run.
	Concurrency int
	// Recorder, if set, is the node's timeline: the member records its own
	// marks on it (timing.CoordUnreachable, a gap in its heartbeats), from
	// Join until Leave returns. A loadtest Runner passes its own, so that
	// the gaps show on the node's waterfall; nil records nothing.
	Recorder *timing.Recorder
}

// MaxNodeID is the longest node ID a coordinator accepts, in bytes.
const MaxNodeID = 128

// Signal is the start signal, as the orchestrator issued it.
type Signal struct {
	// At is the start instant T, on the node's own wall clock: a
	// coordinator whose reference clock is another host's converts it with
	// the offset it measured (see Clocked). Nodes start their first
	// operation at T, not when they learn of it.
	At time.Time
	// Published is when the orchestrator issued the signal, on the node's
	// clock.
	Published time.Time
	// Concurrency, if positive, overrides the node's configured number of
	// worker goroutines (a scale event sent before the start).
	Concurrency int
	// Events delivers control events that arrive after the start, until the
	// member leaves; it is nil when the coordinator sends none, and in the
	// orchestrator's own copy returned by Orchestrator.Start.
	Events <-chan Event
}

// State is what a node reports about itself.
type State struct {
	Status Status
	// Phase is the node's current phase, as a timing phase name.
	Phase string
}

// Status is a node's state in the run.
type Status string

// Node statuses, in the order a node goes through them.
const (
	StatusJoined  Status = "JOINED"
	StatusReady   Status = "READY"
	StatusRunning Status = "RUNNING"
	StatusDone    Status = "DONE"
	StatusFailed  Status = "FAILED"
	StatusLost    Status = "LOST"
)

// valid reports whether s is one of the statuses above.
func (s Status) valid() bool {
	switch s {
	case StatusJoined, StatusReady, StatusRunning, StatusDone, StatusFailed, StatusLost:
		return true
	}
	return false
}

// final reports whether a node with status s has left the run for good.
func (s Status) final() bool {
	return s == StatusDone || s == StatusFailed || s == StatusLost
}

// ready reports whether a node with status s counts as ready.
func (s Status) ready() bool { return s == StatusReady || s == StatusRunning }

// Event is a control event sent by the orchestrator during a run.
type Event struct {
	// Seq orders events; an event is applied once, in Seq order.
	Seq  int64
	Kind EventKind
	// Concurrency is the new target for EventScale.
	Concurrency int
	// Reason explains a stop or abort.
	Reason string
}

// EventKind says what a control event asks for.
type EventKind string

// Control event kinds.
const (
	EventStop  EventKind = "stop"  // end the run, keeping what was measured
	EventAbort EventKind = "abort" // end the run as failed
	EventScale EventKind = "scale" // change the target concurrency
)

// MaxReason bounds an event's Reason, in bytes: Send refuses a longer one,
// and a member skips an event read from the backend with a longer one.
const MaxReason = 4 << 10

// Errors returned by coordinators.
var (
	// ErrWaitTimeout is returned by Wait when no start signal came in time;
	// the error that wraps it says who was missing.
	ErrWaitTimeout = errors.New("coordinate: timed out waiting for the start signal")
	// ErrAborted is returned by Wait when the run was aborted (or its start
	// withdrawn) before it started; the error that wraps it says why.
	ErrAborted = errors.New("coordinate: run aborted")
	// ErrLate is returned by Join when the run has already started, and by
	// Wait and SetState when a node reports ready after the start was
	// published: the orchestrator did not count it.
	ErrLate = errors.New("coordinate: run already started")
)

// Clocked is implemented by a Member that measured its clock against the
// coordinator's reference clock (a database's clock, say) when it joined. A
// Runner asks for it once after Join and records it on its timeline, so that
// timelines from many hosts merge on one axis.
type Clocked interface {
	// ClockOffset returns how far the local wall clock runs ahead of the
	// reference clock, and a bound on the error of that estimate.
	ClockOffset() (offset, bound time.Duration)
}
