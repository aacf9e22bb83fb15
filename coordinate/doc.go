// Package coordinate is the start barrier of a load test: many nodes (the
// processes of a run, each a loadtest Runner with workers of its own) get
// ready, wait, and begin together at one instant, then obey control events
// until they leave.
//
// # Two sides
//
// The node side is [Coordinator] and [Member]. The loadtest Runner of each
// node calls [Coordinator.Join] (phase coord.register) with its [Node],
// reports its state with [Member.SetState], blocks in [Member.Wait] (phase
// coord.wait) until the start [Signal] arrives, sleeps until [Signal.At]
// with [SleepUntil], runs, reads control events from [Signal.Events], and
// finally calls [Member.Leave]. A nil Coordinator means "start at once".
//
// The orchestrator side is [Orchestrator]: whoever drives the run waits for
// the nodes with [Orchestrator.AwaitReady] under a [Readiness] rule,
// publishes the start instant with [Orchestrator.Start], and steers the run
// with [Orchestrator.Send] (stop, abort, scale).
//
// The start instant is chosen a little in the future (a lead) rather than
// "now": learning of the start takes different times for different nodes,
// and starting at a shared instant turns that spread into idle time before
// the start instead of skew inside the measurement.
//
// # The kit and its backends
//
// Every rule of the barrier lives here, once: [Client] is the node side
// and [Run] the orchestrator's, both over a [Backend] that only stores and
// carries records. A backend supplies:
//
//   - [RunStore]: the run's record ([RunRecord]), written by the
//     orchestrator and read by every member, and the control events
//     ([EventRecord]), appended by the orchestrator and read by every
//     member after a Seq;
//   - [NodeStore]: one record per node ([NodeRecord]), written by its member
//     and read by the orchestrator;
//   - its Name, which a merged result reports (start.coordinator);
//   - optionally [Clock], a reference clock other than the local one, and
//     [Watcher], wake-ups when records change.
//
// The kit does the rest: the readiness rule and the wait for it, the
// late-joiner rule (a node that joins after the start, or becomes ready
// after it was published, gets [ErrLate]: [NodeReady] is the one write
// that a backend must order against the publication), the heartbeat (a
// failed beat retried with backoff, the gap a timing.CoordUnreachable mark
// on the node's [Node.Recorder]), lost nodes and the [LostPolicy] (a node
// lost after T is published but before T makes the abort policy withdraw
// the start: no node runs into its warmup), scale bounds
// ([Options.MaxScale]), control events applied in Seq order exactly once,
// with records that are not valid skipped and logged once without moving
// the member's cursor, and the clock offset (several readings of the
// reference clock at Join, and [Options.LeadClockSamples] more spread over
// the lead before T, the one with the least round trip kept: offset =
// local midpoint - reference reading, bound = round trip/2 + the reference
// clock's resolution).
//
// The lead from the publication of the start to T must outlast the
// start's fan-out to every node: [Run.MinLead] is what the orchestrator
// measured the fleet to need while it waited for readiness (how long the
// nodes' reports of ready took to reach it, and their clock bounds);
// [Run.StartWhenReady] raises a shorter lead to it, and a node that saw
// the start after T anyway is marked on the orchestrator's timeline and
// logged. [Options.ClockSkew] simulates a node whose wall clock is off, so
// that a test of one process can check that the offsets recover it.
//
// Reads return what the backend holds now. A backend that is told of
// changes (a key-value watch, a subscription) may answer from what it was
// told, without a round trip, and say so through Watcher; the kit reads at
// every wake-up, and every [Options.Poll] as the fallback for one that went
// missing. So one interface serves:
//
//   - SQL tables polled on an interval (package sqlcoord): each read a
//     SELECT, each write an INSERT or a conditional UPDATE;
//   - the same tables with a LISTEN/NOTIFY wake-up (package pgnotify, as
//     sqlcoord's Notifier): Watch of the run and of its events;
//   - a message system such as NATS JetStream: the run's record and the
//     nodes' records in a key-value bucket (one bucket, keys "run" and
//     "node.<id>", so that its revisions order NodeReady against the
//     publication; members watch "run", the orchestrator "node.>") whose
//     watches keep the latest values in memory for Run and Nodes to return,
//     the events on a stream whose sequence is the Seq (Events(after) an
//     ordered consumer from after+1, which resumes after its last sequence
//     on a reconnect), the reference clock read by request and reply to the
//     orchestrator (Clock), each watch a Subscription;
//   - memory ([Memory]): [Local] is the kit over it, for nodes that are
//     goroutines of one process.
//
// A wrapper of a Backend must forward Clock and Watcher, or the kit will
// not find them (as a database/sql driver wrapper must forward the
// driver's optional interfaces).
//
// # Adding a backend
//
// The files one touches:
//
//  1. a package (coordinate/yourbackend) with a type implementing Backend,
//     and Clock and Watcher where the transport offers them; it stores what
//     it is given and reports a record it cannot decode with its Bad field;
//  2. a test file in that package calling coordtest.Run with a Harness (a
//     fresh run's backends, and an Inject that writes hostile records into
//     its storage behind its back);
//  3. one case in backendFor in examples/distributed, so that
//     -coord yourbackend runs the example through it.
//
// # Ownership and concurrency
//
// A Coordinator is shared: Join may be called by many nodes at once. A
// Member belongs to the node that joined; its methods are called from one
// goroutine at a time, while Signal.Events may be read from another. The
// Member owns its goroutines (the heartbeat, and the reader of control
// events) from Join until Leave returns: no goroutine of a member outlives
// Leave, and Leave closes Events. An Orchestrator's methods may be called
// concurrently with each other and with any members. Events carry a Seq
// assigned by the backend; a member receives each event once, in Seq
// order.
//
// Errors are sentinels ([ErrWaitTimeout], [ErrAborted], [ErrLate],
// [ErrNotReady], [ErrLost], ...) wrapped with the details (which node, who
// was missing, which phase), for use with errors.Is; [ReadinessError] can
// be taken apart with errors.As.
package coordinate
