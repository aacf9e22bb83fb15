// Package sqlcoord coordinates the start of workers on many hosts through
// three tables in any database/sql database (PostgreSQL, MySQL/MariaDB,
// SQLite, Snowflake).
//
// # Tables
//
// [Tables] names them: Prefix+"runs" (one row per run: status WAITING,
// STARTED or ABORTED, expected workers, the start instant, the concurrency
// set by a scale before the start, the abort reason), Prefix+"workers" (one
// row per worker: state, phase, ready time, last heartbeat, when it saw
// the start, its measured clock offset and error bound, its test start, and
// its result as JSON) and Prefix+"events" (control events, primary key
// (run_id, seq)). They are created on demand with CREATE TABLE IF NOT
// EXISTS. Every instant is a BIGINT of Unix nanoseconds on the database's
// clock: portable and exact.
//
// # Two sides
//
// The worker side is [Coordinator] (a coordinate.Coordinator). Join reads
// the database clock several times and keeps the reading with the shortest
// round trip: the offset is the local midpoint minus the database's time,
// the error bound half that round trip plus the clock's resolution (1 ms on
// SQLite, whose clock on one host is the local clock anyway). Members
// implement coordinate.Clocked, so a loadtest Runner records the offset,
// and they convert the start instant to the worker's own clock. A member
// heartbeats every Heartbeat; Wait reads the run row every Poll (plus
// jitter), or at once when a [Notifier] wakes it (package pgnotify:
// PostgreSQL LISTEN/NOTIFY). After the start the member's goroutine reads
// the events with a Seq above the last it applied, in order.
//
// # Rows not written by this package
//
// The tables may hold rows written by hand, by a broken tool or by a
// hostile writer, and SQLite lets any column hold any type. Integer
// columns are read loosely (an integer, a whole float, decimal text) so
// that one bad value spoils one row, not the read. An event row that is
// not valid (unknown kind, a seq or target that is not an integer, a
// scale target outside 1..Options.MaxScale) is skipped and logged once,
// not on every poll, and it does not move the worker's cursor: a junk row
// with a huge seq cannot make the worker deaf to the events the
// orchestrator sends below it. A run row's concurrency above MaxScale is
// ignored likewise, and a worker row that cannot be read is logged once
// and passed over by the orchestrator. Send numbers after the highest
// seq of a known kind in the table.
// [Coordinator.Sink] stores the worker's test start and its result in its
// row.
//
// The orchestrator side is [Orchestrator] (a coordinate.Orchestrator):
// [NewOrchestrator] creates the run, AwaitReady waits for a
// coordinate.Readiness rule, Start publishes the start instant (a lead ahead
// of now, so that every worker learns of it before it comes), Send assigns
// each event the next Seq, [Orchestrator.CheckLost] declares lost every
// worker whose heartbeat is MissedBeats beats old and applies the
// [LostPolicy], and [Orchestrator.Collect] gathers every worker's result.
// The orchestrator records its own timeline; loadtest.MergeWith puts it and
// the workers' results on one axis.
//
// # Late joiners
//
// A worker is refused with coordinate.ErrLate when it joins after the start
// was published, or reports ready after it (the orchestrator did not count
// it): it is never left running unsynchronised.
//
// # Failures
//
// Wait retries a failed read of the run row Retries times, one poll apart,
// then fails with an error naming the phase (coord.wait); the WaitTimeout
// bounds the whole wait.
//
// After the start, the coordinator's database may become unreachable
// without stopping the measurement, which runs on connections of its own.
// Every heartbeat and event read is bounded in time; a failed heartbeat is
// logged and retried with backoff (a tenth of the period, doubling, never
// slower than the period), and the gap, from the first failed heartbeat to
// the next that succeeds, is a [PhaseUnreachable] mark on the worker's
// timeline (a loadtest Runner hands its timeline to the member: see
// loadtest.Marker). If the gap outlasts the orchestrator's missed-beat
// budget, the orchestrator declares the worker lost; within it, nothing
// but the mark shows it.
//
// A worker process that dies mid-run stops beating and is declared lost
// once its last heartbeat is MissedBeats beats old: what it had written
// (its test start, its last reported state and phase) stays in its row,
// and the others go on or are aborted as the [LostPolicy] says.
package sqlcoord
