// Package loadtest runs coordinated warmup-then-measure load tests.
//
// A [Runner] composes the parts a load test needs, each behind a small
// interface: a connection pool ([pool.Pool]), a table profiler
// ([profile.Profiler]), a start coordinator ([coordinate.Coordinator]) and
// result sinks ([Sink]). [Runner.Run] takes one worker process through the
// phases that package timing names, in order:
//
//	pool.init          open and verify the pool's connections, in parallel
//	setup.profile      read id ranges and sample values of the workload's tables
//	coord.register     join the coordinator
//	heartbeat.running  report ready
//	results.test_start record the test start in the sinks (or in the background)
//	scale.warmup       take a session per worker and park the workers at the gate
//	coord.wait         wait for the start signal and sleep until its instant T
//	query.first        each worker's first operation, from T
//	warmup, measure    the two windows, whose statistics are kept apart
//	teardown           stop the workers, close their sessions, leave
//
// Everything that can happen before the start signal does, so that only the
// gate lies between T and the first query; what must come after it, a
// coordinated node's RUNNING report, waits until 20 ms past T, so that it
// does not compete with the first queries. Every step leaves a monotonic
// timing mark; the [Result] carries the timeline, and its text report
// (Result.WriteText) draws the startup waterfall and states the gap from the
// start signal to each worker's first query. Config.WritesAfterSignal puts
// the writes (heartbeat.running, results.test_start) after the signal
// instead, to measure what that order costs.
//
// Operations are weighted functions of a [Worker], which carries the
// worker's session, random source and the table profile. An operation
// belongs to the window in which it started; warmup operations never reach
// the measured statistics. Latencies go to HdrHistograms (3 significant
// digits) through a small per-worker batch, handed to the Runner once per
// interval and merged losslessly, so recording an operation takes no lock
// and allocates nothing.
//
// The pool's optional capabilities ([pool.Preparer], [pool.PhaseTagger],
// [pool.Describer], [pool.Classifier], [pool.StatementHistory]) and the
// coordinator member's ([coordinate.Clocked]) are discovered once and used
// without further configuration; the member gets the run's timeline at
// Join (coordinate.Node.Recorder), for marks of its own such as a gap in
// its heartbeats.
//
// # The server's split
//
// A pool that is a [pool.StatementHistory] (Snowflake's QUERY_HISTORY)
// is read once after the run, in the span server.history: after teardown,
// before the sinks are written, never while the workers run. Each
// operation's and each phase's Stats then carry a [ServerSplit]: how many
// operations startline counted (queries), how many statements the history
// holds of them (matched; sampled when the read stopped at
// Config.HistoryLimit), and the distributions of the server's parts of
// their time (queued for provisioning, queued for a slot, compiling,
// executing, elapsed) and of client_ns, startline's latency less the
// server's elapsed time: the network, the driver and the harness. A
// statement is matched to its operation and phase by its tag (the Runner
// tells the session the phase and operation before each operation whose
// phase or operation changed, through pool.PhaseTagger); client_ns by
// order within a worker's phase and operation, against the worker's last
// operations kept in a preallocated ring (one store per operation, no
// allocation). The splits of many processes merge exactly: counts and
// sums add, percentiles come from the merged histograms. [ServerSplit]
// says what each field holds, and when client_ns is left out.
//
// # Hooks
//
// [Hooks] let a program watch a run as it goes. They are generic: a
// PhaseStart and PhaseDone pair for every phase the Runner runs, with the
// phase in the info, and a Mark hook for every mark recorded on the run's
// timeline, plus three hooks for the events that are not phases
// (ConnOpened, StartSignal, Interval). The phases are timing's registry,
// not the hooks': a pool's own preparation phase, a phase added to the
// registry, the side marks (setup.retry, scale, fault) and the marks a
// coordinator member records on the run's timeline (coord.unreachable)
// reach the hooks without a field of their own, the marks through the
// timing.Recorder's one observer.
//
// Why a struct of funcs and not a tracer with optional interfaces, as pgx
// has: six fields cover every event, a program sets the one it needs in a
// struct literal without declaring a type, hooks compose by value
// (ComposeHooks), and a hook nobody set costs the run one nil check. A
// tracer pays off when every operation has its own start and end
// payloads, as pgx's queries, batches and copies do; here two payloads
// (PhaseStartInfo, PhaseDoneInfo) serve every phase, so one interface per
// phase would only bring back the per-phase fields that made adding a
// phase an edit to the hooks.
//
// # Load models
//
// By default a run is a closed loop: Config.Workers goroutines each start
// their next operation when the previous one ends. With Config.Rate it is
// open-loop: operations are scheduled at that rate (evenly, or as a
// Poisson process), the workers serve the schedule, and each operation's
// latency is measured from its scheduled start, so that a stall shows in
// the latencies of every operation it delayed instead of vanishing from
// them (coordinated omission); operations that start late are counted
// (Stats.Late), and those beyond Config.MaxInFlight are dropped and
// counted (Stats.Dropped). An operation belongs to the phase in which it
// was scheduled to start. The delay from its scheduled start to its start
// is split in two: the pacer's own lateness (Stats.SchedLag, scheduled to
// released; the pacer waits with an absolute kernel sleep and a short
// spin, so this is microseconds) and the wait for a worker (Stats.Queue,
// released to started).
//
// # Offered and achieved
//
// An arrival-rate run counts from its schedule what it offered against
// what it achieved, for each phase, interval and operation (Stats.Schedule
// and Interval.Load): the operations scheduled in the window
// (offered_per_s), the throughput of those that completed inside it
// (throughput_per_s; an operation scheduled in the window and completed
// after it still counts in the latencies, and in completed_after), the
// backlog of operations scheduled but not yet begun at the window's start
// and end, and whether the window was overloaded: achieved short of
// offered by more than Config.OverloadTolerance, or the backlog growing.
// The text report, the progress line and the HTML report say so in words,
// and thresholds on achieved_ratio and backlog fail a CI run that stopped
// keeping up. The backlog the warmup leaves is the measured window's
// backlog_start; Config.DrainWarmup drains it before the window opens (a
// warmup.drain mark).
//
// SearchCapacity runs arrival-rate steps on one warm pool to find the
// highest rate at which an SLO holds: coarse steps up, then a bisection
// between the last rate that passed and the first that failed, bounded by
// a step count and a time budget (examples/capacity). SearchCapacitySteps
// is the same search with the caller's step function: a fleet runs each
// step across its processes, started together, and the step is judged on
// the merged result (examples/distributed -capacity).
//
// Config.Stages ramp and hold the concurrency or the rate; the
// orchestrator's scale events change it during a run. Every change is a
// "scale" mark on the timeline.
//
// # Warmup, intervals and thresholds
//
// The warmup lasts Config.Warmup, or, with Config.Steady, until the
// per-interval median, p99 and throughput have settled (bounded by a
// maximum); Stats.EndedBy says which. Every Config.Interval the Runner
// collects the interval's statistics per phase and per operation: they are
// kept in Result.Intervals and passed to Hooks.Interval, on which Progress
// draws a live progress line. Config.Thresholds ("p99<50ms",
// "error_rate<0.01", "point_select:throughput>100") are checked against
// the measured window; Result.Thresholds says which held.
//
// # Faults
//
// A load test runs against systems pushed to fail, so the Runner keeps
// going through what they do: an operation's error is counted by kind
// (connection, timeout, sql, canceled, other: [pool.ErrorKind]) per phase
// and operation. The kind is the pool's own answer when the pool is a
// [pool.Classifier] that knows the error (Snowflake's errors carry their
// SQLSTATE where only the driver can read it), [pool.Classify]'s
// otherwise.
//
// A worker whose operations fail records a "fault" mark (timing.Fault)
// from the start of its first operation that failed after a success (or
// before any) to the end of its next successful one, so the timeline
// shows when a fault happened and how long recovery took. Its Detail is
// the first error's kind, with " (not recovered)" if the worker stopped
// first, and its Err the first error. Errors of kind sql (the statement
// was rejected; the connection works) and canceled (the run ended) open no
// fault. A worker marks its first 16 faults and counts every failure.
//
// Config.OpTimeout bounds each operation. pool.init and setup.profile
// retry what may succeed another time (the pool's classifier says so, or
// the connection was lost, refused or timed out), with a doubling pause
// from Config.SetupBackoff, at most Config.SetupAttempts times in all, and
// then fail naming the phase; each retried attempt is a "setup.retry"
// mark. Cancelling the run's context stops the workers at once, and what
// was measured is still written to the sinks.
//
// # Sinks
//
// A [Sink] receives the test start and the result; its documentation is
// the one statement of the contract (what a Write of a failed or cancelled
// run gets, what may overlap, what a rewrite must do), and package
// loadtest/sinktest is its conformance suite, which [TextSink] and
// [JSONSink] run in this package's tests and loadtest/sqlsink runs on
// every database it writes to. To add a sink, write one package with the
// sink (yoursink.go) and its documentation (doc.go), a test that calls
// sinktest.Run with a Harness that makes a fresh sink and reads back what
// it kept (yoursink_test.go), a runnable example (example_test.go) and a
// TestMain with goleak (main_test.go); nothing else in the module changes.
//
// # The fleet, live
//
// With Config.Stream set, a node sends every interval as it closes (its
// exact histograms, counts and errors by kind, per operation, warmup or
// measure: a [StreamRecord]) to a [StreamStore], from a bounded queue
// that one goroutine empties, so that the workers never wait for it; what
// could not be sent is counted in Result.Stream and said in the text
// report. An orchestrator follows the run's records with a [LiveMerge]:
// it merges them exactly as they arrive, prints one line per fleet
// interval, checks fleet thresholds on the merged measured window as it
// grows (aborting every node under LiveOptions.AbortOnFail), and at the
// end ([LiveMerge.Finish]) gives the merged result the fleet's intervals
// and the partial result of every node that was lost, rebuilt from what it
// streamed. A node killed mid-run loses at most the interval in flight:
// the one that had not closed yet, and a closed one still queued or being
// stored when the process died (one, unless the store was already
// falling behind, which Result.Stream of the other nodes shows).
// Package loadtest/sqlsink keeps the records in a stream table; package
// loadtest/live serves a page that shows the run as it goes.
package loadtest
