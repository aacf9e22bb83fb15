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
// gate lies between T and the first query. Every step leaves a monotonic
// timing mark; the [Result] carries the timeline, and its text report
// (Result.WriteText) draws the startup waterfall and states the gap from the
// start signal to each worker's first query. Config.ReferenceOrder puts the
// writes after the signal instead, as the reference harness did, to measure
// what that order costs.
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
// [pool.Describer]) and the coordinator member's ([coordinate.Clocked]) are
// discovered once and used without further configuration; the member gets
// the run's timeline at Join (coordinate.Node.Recorder), for marks of its
// own such as a gap in its heartbeats.
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
// (Stats.Late, with the queueing delay in Stats.Queue), and those beyond
// Config.MaxInFlight are dropped and counted (Stats.Dropped). An operation
// belongs to the phase in which it was scheduled to start.
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
// (connection, timeout, sql, canceled, other; see [Classify]) per phase and
// operation, and a worker whose operations fail records a "fault" mark
// from its first failure to its next success, so the timeline shows when a
// fault happened and how long recovery took. Config.OpTimeout bounds each
// operation. pool.init and setup.profile retry what is safe to retry
// (Config.SetupAttempts) and then fail naming the phase. Cancelling the
// run's context stops the workers at once, and what was measured is still
// written to the sinks.
package loadtest
