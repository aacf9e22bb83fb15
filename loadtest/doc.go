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
// the measured statistics. Latencies are kept in HdrHistograms, one per
// worker, operation and window, merged when the run ends, so recording an
// operation takes no lock.
package loadtest
