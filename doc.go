// Package startline is a library for coordinated warmup-then-measure load
// tests against databases: Snowflake, and any database/sql or pgx database.
//
// Many workers, in one process or on many hosts, open their connection
// pools, profile the tables they will query, wait for one start signal,
// warm up, and then measure. startline makes three things trustworthy:
//
//   - all workers really start together: a coordinator publishes a start
//     instant and every worker starts its first query at that instant;
//   - the warmup never leaks into the measurement, and latency is measured
//     honestly, per worker, in histograms merged exactly;
//   - every moment between pool init and the first query is accounted for
//     by monotonic timing marks, in a report the library draws itself.
//
// # The packages
//
// The runner and what it writes:
//
//   - [github.com/startline/startline/loadtest]: the Runner, its Config and
//     Hooks; workloads, load models, statistics, thresholds, results and
//     their merge across processes; the Sink contract, with the text and
//     JSON sinks.
//   - [github.com/startline/startline/loadtest/sinktest]: the conformance
//     suite every Sink runs.
//   - [github.com/startline/startline/loadtest/sqlsink]: results in
//     PostgreSQL, MySQL/MariaDB, SQLite or Snowflake tables, spilled to a
//     file when the database cannot be written.
//   - [github.com/startline/startline/loadtest/report]: the self-contained
//     HTML report and the interval series as CSV and JSON lines.
//
// The parts the runner composes, each behind a small interface:
//
//   - [github.com/startline/startline/pool]: the Pool interface, its
//     optional capabilities (Preparer, PhaseTagger, Describer, Classifier,
//     StatementHistory),
//     the error kinds, and the parallel warm-up every adapter shares.
//     Adapters: pool/sqlpool (any database/sql driver), pool/pgxnative
//     (pgxpool), pool/snowflake (gosnowflake) with
//     pool/snowflake/snowflaketest (a local Snowflake-protocol server);
//     pool/dialect (identifiers, column types and placeholders per
//     database); pool/pooltest (the conformance kit of a Pool).
//   - [github.com/startline/startline/coordinate]: the start Coordinator
//     (node side) and Orchestrator, the kit that holds their rules over a
//     small Backend, in memory, over SQL tables (coordinate/sqlcoord, with
//     LISTEN/NOTIFY in coordinate/pgnotify), and the conformance suite
//     (coordinate/coordtest).
//   - [github.com/startline/startline/profile]: the table Profiler (id
//     ranges and sampled values, in parallel), and saved profiles.
//   - [github.com/startline/startline/timing]: the registry of phases,
//     marks and timelines, their merge across processes, the waterfall and
//     the start summary; timing/otelexport sends a timeline to
//     OpenTelemetry as spans.
//
// Imports run one way: loadtest and its sub-packages use coordinate, pool,
// profile and timing; nothing under those four imports loadtest. Drivers
// and SDKs live in sub-packages (pool/snowflake, coordinate/pgnotify,
// timing/otelexport), so that importing loadtest compiles none of them.
//
// Start with examples/quickstart, which runs the whole path on an embedded
// SQLite database.
package startline
