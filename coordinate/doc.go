// Package coordinate is the start barrier of a load test: many workers get
// ready, wait, and begin together at one instant, then obey control events
// until they leave.
//
// # Two sides
//
// The worker side is [Coordinator] and [Member]. The loadtest Runner of each
// worker calls [Coordinator.Join] (phase coord.register), reports its state
// with [Member.SetState], blocks in [Member.Wait] (phase coord.wait) until
// the start [Signal] arrives, sleeps until [Signal.At] with [SleepUntil],
// runs, reads control events from [Signal.Events], and finally calls
// [Member.Leave]. A nil Coordinator means "start at once".
//
// The orchestrator side is [Orchestrator]: whoever drives the run waits for
// the workers with [Orchestrator.AwaitReady] under a [Readiness] rule,
// publishes the start instant with [Orchestrator.Start], and steers the run
// with [Orchestrator.Send] (stop, abort, scale).
//
// The start instant is chosen a little in the future (a lead) rather than
// "now": learning of the start takes different times for different workers,
// and starting at a shared instant turns that spread into idle time before
// the start instead of skew inside the measurement.
//
// # Implementations
//
// [Local] serves workers that are goroutines of one process, and is both
// sides at once. Implementations for workers on many hosts (SQL tables,
// PostgreSQL LISTEN/NOTIFY, ...) live in sub-packages, so that their
// drivers stay out of programs that do not use them.
//
// # Ownership and concurrency
//
// A Coordinator is shared: Join may be called by many workers at once. A
// Member belongs to the worker that joined; its methods are called from one
// goroutine at a time, while Signal.Events may be read from another. The
// Member owns its heartbeat (a goroutine in [Local]) from Join until Leave
// returns: no goroutine of a member outlives Leave, and Leave closes
// Events. An Orchestrator's methods may be called concurrently with each
// other and with any members. Events carry a Seq assigned by the
// orchestrator; a member receives each event once, in Seq order.
//
// Errors are sentinels ([ErrWaitTimeout], [ErrAborted], [ErrLate],
// [ErrNotReady], ...) wrapped with the details (which worker, who was
// missing), for use with errors.Is; [ReadinessError] can be taken apart with
// errors.As.
package coordinate
