package coordinate

import (
	"context"
	"errors"
	"time"
)

// Coordinator is the worker side of the start barrier. Join may be called
// concurrently by many workers.
type Coordinator interface {
	// Join announces a worker and starts its heartbeat, which goes on until
	// the returned Member leaves.
	Join(ctx context.Context, w Worker) (Member, error)
}

// Member is one joined worker. Its methods are called from one goroutine at a
// time (the Runner's), except that Signal.Events is read concurrently.
type Member interface {
	// Wait blocks until the start signal, the context ends, or the
	// coordinator's wait timeout passes; heartbeats go on meanwhile.
	Wait(ctx context.Context) (Signal, error)
	// SetState reports the worker's state and current phase; the
	// coordinator publishes it at once or with the next heartbeat.
	SetState(ctx context.Context, s State) error
	// Leave stops the heartbeat, records the final state (err says whether
	// the worker failed) and closes the signal's Events channel.
	Leave(ctx context.Context, err error) error
}

// Worker identifies a worker to the coordinator.
type Worker struct {
	// ID is unique within a run.
	ID string
	// Concurrency is the number of goroutines the worker will run.
	Concurrency int
}

// Signal is the start signal, as the orchestrator issued it.
type Signal struct {
	// At is the start instant T, on the worker's own wall clock: a
	// coordinator whose reference clock is another host's converts it with
	// the offset it measured (see Clocked). Workers start their first
	// operation at T, not when they learn of it.
	At time.Time
	// Published is when the orchestrator issued the signal, on its clock.
	Published time.Time
	// Concurrency, if positive, overrides the worker's configured number of
	// goroutines.
	Concurrency int
	// Events delivers control events that arrive after the start, until the
	// member leaves; it is nil when the coordinator sends none, and in the
	// orchestrator's own copy returned by Orchestrator.Start.
	Events <-chan Event
}

// State is what a worker reports about itself.
type State struct {
	Status Status
	// Phase is the worker's current phase, as a timing phase name.
	Phase string
}

// Status is a worker's state in the run.
type Status string

// Worker statuses, in the order a worker goes through them.
const (
	StatusJoined  Status = "JOINED"
	StatusReady   Status = "READY"
	StatusRunning Status = "RUNNING"
	StatusDone    Status = "DONE"
	StatusFailed  Status = "FAILED"
	StatusLost    Status = "LOST"
)

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

// Errors returned by coordinators.
var (
	// ErrWaitTimeout is returned by Wait when no start signal came in time;
	// the error that wraps it says who was missing.
	ErrWaitTimeout = errors.New("coordinate: timed out waiting for the start signal")
	// ErrAborted is returned by Wait when the run was aborted before it started.
	ErrAborted = errors.New("coordinate: run aborted")
	// ErrLate is returned by Join when the run has already started.
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
