package coordinate

import (
	"context"
	"errors"
	"time"
)

// Backend is where one run's records are kept and how they travel between
// the orchestrator and the nodes: SQL tables (package sqlcoord), the same
// tables with a LISTEN/NOTIFY wake-up (package pgnotify), a message system
// such as NATS JetStream, or memory ([Memory]). The kit in this package
// ([Client] on the node side, [Run] on the orchestrator's) holds every rule
// of the barrier; a backend only stores and reads three kinds of record,
// each written by one side and read by the other:
//
//   - the run's record ([RunRecord]): written by the orchestrator, read by
//     every member;
//   - the control events ([EventRecord]): appended by the orchestrator, read
//     by every member in Seq order;
//   - one record per node ([NodeRecord]): written by its member, read by the
//     orchestrator.
//
// A Backend value serves one run (the run id is the backend's own option).
// It must be safe for concurrent use: the members of one process and the
// heartbeats of each may call it at once.
//
// Reads return what the backend holds now: a backend that is told of
// changes (a key-value watch, a subscription) may answer from what it was
// told, without a round trip, and then implements [Watcher] so that the kit
// learns of changes at once. The kit reads again at every change and, as a
// fallback for a wake-up that went missing, every Options.Poll.
//
// The kit validates everything it reads: a backend stores and returns what
// it is given, without judging it, and reports a record it cannot decode
// (a column holding text where a number belongs, a value that is not JSON)
// with the record's Bad field rather than failing the whole read.
//
// Optional capabilities are separate interfaces, discovered once by
// NewClient and NewRun: [Clock] (a reference clock other than the local
// one) and [Watcher] (wake-ups).
type Backend interface {
	// Name names the backend as a merged result reports it
	// (start.coordinator): "local", "sql", "pgnotify", "nats".
	Name() string
	RunStore
	NodeStore
}

// RunStore holds what the orchestrator writes and every member reads: the
// run's record and its control events.
type RunStore interface {
	// PutRun writes the run's record. With from empty it creates the run,
	// and fails with an error wrapping ErrRunExists when the run already
	// has a record. Otherwise it replaces the record only if the stored
	// one's Status is from (compare and set, so that a publication and an
	// abort cannot both win), and fails with ErrConflict if not.
	PutRun(ctx context.Context, r RunRecord, from RunStatus) error
	// Run returns the run's record, or an error wrapping ErrNoRun when the
	// orchestrator has not created it.
	Run(ctx context.Context) (RunRecord, error)
	// AddEvent appends e and returns the Seq it stored e under (e.Seq is
	// ignored): greater than the Seq of every event of a known kind the
	// backend holds, so that records of other kinds (junk, or a hostile
	// writer's) cannot push the numbering out of range.
	AddEvent(ctx context.Context, e EventRecord) (int64, error)
	// Events returns the events whose Seq is above after, in Seq order,
	// and any record it holds that it cannot decode (with Bad set).
	Events(ctx context.Context, after int64) ([]EventRecord, error)
}

// NodeStore holds what each member writes and the orchestrator reads: one
// record per node.
type NodeStore interface {
	// PutNode writes node n's record as w says (see NodeWrite).
	PutNode(ctx context.Context, n NodeRecord, w NodeWrite) error
	// Nodes returns the record of every node that joined the run, in any
	// order, including records it cannot decode (with Bad set).
	Nodes(ctx context.Context) ([]NodeRecord, error)
}

// NodeWrite says which part of a node's record PutNode writes, and on what
// condition.
type NodeWrite int

const (
	// NodeJoin creates the record. It fails with an error wrapping
	// ErrDuplicate when the node already has one. (The kit reads the run's
	// record first: a node of a run that does not exist gets ErrNoRun
	// there.)
	NodeJoin NodeWrite = iota
	// NodeReady writes Status, Phase, Ready and Beat, only if the run is
	// still WAITING when the write happens (in the backend's order of
	// writes: one transaction, one key-value bucket's revisions), and
	// fails with ErrConflict otherwise. A node that becomes ready after
	// the start was published was not counted by the orchestrator, and
	// must not start unsynchronised.
	NodeReady
	// NodeState writes Status, Phase, Ready, Seen, Beat and Err.
	NodeState
	// NodeBeat writes Beat only: a heartbeat still in flight must not undo
	// a state written meanwhile.
	NodeBeat
	// NodeLost sets Status to StatusLost, unless the record's status is
	// already final (DONE, FAILED or LOST): then it fails with ErrConflict.
	NodeLost
)

// RunStatus is the state of a run in its record.
type RunStatus string

// Run statuses: a run waits, then starts or is aborted (before its start,
// or by withdrawing a start whose instant has not come).
const (
	RunWaiting RunStatus = "WAITING"
	RunStarted RunStatus = "STARTED"
	RunAborted RunStatus = "ABORTED"
)

// RunRecord is the run as the orchestrator writes it. Times are on the
// reference clock (see Clock).
type RunRecord struct {
	Status RunStatus
	// Want and Expect are the readiness rule the orchestrator waits for
	// (Readiness.Want and Readiness.Expect), so that a member that times
	// out can say who was missing; zero until AwaitReady.
	Want   int
	Expect []string
	// Concurrency is the target set by a scale event before the start; 0
	// if none.
	Concurrency int64
	// Created, Published and At are when the run was created, when its
	// start was published, and the start instant T.
	Created, Published, At time.Time
	// StartSeq is the Seq of the last event sent before the start: members
	// read the events after it.
	StartSeq int64
	// Reason says why the run was aborted.
	Reason string
	// Bad, set by a backend, says that a field the kit can do without
	// (Concurrency, Want, Expect) could not be decoded: those fields are
	// then zero, and the kit ignores them with a warning.
	Bad error
}

// EventRecord is a control event as stored.
type EventRecord struct {
	Seq         int64
	Kind        EventKind
	Concurrency int64
	Reason      string
	// Created is when the orchestrator sent it, on the reference clock.
	Created time.Time
	// Bad, set by a backend, says that the record could not be decoded (a
	// seq or target that is not an integer); Raw then names it (its seq as
	// stored), for the warning that the kit logs once.
	Bad error
	Raw string
}

// NodeRecord is a node as its member writes it. Times are on the reference
// clock.
type NodeRecord struct {
	ID          string
	Status      Status
	Phase       string
	Concurrency int
	// Joined, Ready, Beat and Seen are when the node joined, first reported
	// ready, last beat (or reported its state), and saw the start signal;
	// zero for "not yet".
	Joined, Ready, Beat, Seen time.Time
	// ClockOffset and ClockError are the node's measured offset against the
	// reference clock, and its bound.
	ClockOffset, ClockError time.Duration
	// Err is the error the node left with (a backend that stores its text
	// returns errors.New of it).
	Err error
	// Bad, set by a backend, says that the record could not be decoded:
	// the kit passes over it, with a warning logged once per ID.
	Bad error
}

// Clock is implemented by a Backend whose reference clock is not this
// process's own: a database's clock, or the orchestrator's, read by
// request and reply. The kit reads it Options.ClockSamples times at Join
// (and at NewRun), Options.LeadClockSamples times more in the lead before
// T, and keeps the reading with the least round trip (see MeasureClock). A Backend without a Clock shares this process's clock:
// offset and bound are zero.
type Clock interface {
	// ReadClock reads the reference clock once, and says its resolution.
	ReadClock(ctx context.Context) (now time.Time, resolution time.Duration, err error)
}

// Watcher is implemented by a Backend that can tell the kit when a record
// changed, so that a waiting member sees the start, and a running one an
// event, at once instead of at its next poll.
type Watcher interface {
	// Watch subscribes to changes of topic: the subscription is live when
	// Watch returns, so that a change made after it wakes it. It returns a
	// nil Subscription (and no error) for a topic it does not watch; the
	// kit polls for that one.
	Watch(ctx context.Context, topic Topic) (Subscription, error)
}

// Topic names the records a subscription watches.
type Topic int

// Topics of Watcher.Watch.
const (
	TopicRun    Topic = iota // the run's record
	TopicEvents              // the control events
	TopicNodes               // the nodes' records
)

// Subscription is one live subscription of a Watcher.
type Subscription interface {
	// C receives a value after one or more changes (it has a buffer of one
	// and coalesces); it is never closed. A change carries no data: the
	// kit reads the records again.
	C() <-chan struct{}
	// Close ends the subscription and releases what it holds; no goroutine
	// of it outlives Close. It is safe to call more than once.
	Close() error
}

// RunCarrier is implemented by a Subscription of TopicRun whose wake-ups
// carry the run's record: a member woken by it takes the record from the
// wake-up instead of reading it (a thousand members woken by one change
// then send the backend no request). A member still reads the record
// itself when it begins to wait and at every poll, so that a write it was
// not woken for is seen as it would be without a subscription.
type RunCarrier interface {
	// Run returns the record the latest wake-up carried, if it is a later
	// write than every record the backend returned before (by RunStore.Run
	// or by a RunCarrier of it), and true; otherwise false: the kit reads
	// the record.
	Run() (RunRecord, bool)
}

// Errors a Backend returns, wrapped with its details.
var (
	// ErrNoRun: the run has no record (no orchestrator created it).
	ErrNoRun = errors.New("coordinate: run not found")
	// ErrRunExists: PutRun was asked to create a run that has a record: a
	// run id names one run.
	ErrRunExists = errors.New("coordinate: run already exists")
	// ErrConflict: a conditional write (PutRun with from, NodeReady,
	// NodeLost) found the record in another state.
	ErrConflict = errors.New("coordinate: record changed meanwhile")
)
