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
// The packages:
//
//   - [github.com/startline/startline/loadtest]: the Runner, its Config,
//     Hooks, workloads, statistics, results and sinks.
//   - [github.com/startline/startline/pool]: the Pool interface, with
//     adapters for database/sql (pool/sqlpool) and native pgx
//     (pool/pgxnative), the SQL dialects (pool/dialect) and a conformance
//     kit (pool/pooltest).
//   - [github.com/startline/startline/coordinate]: the start Coordinator
//     (node side) and Orchestrator, the kit that holds their rules over a
//     small Backend, in memory, over SQL tables (coordinate/sqlcoord, with
//     LISTEN/NOTIFY in coordinate/pgnotify), and the conformance suite
//     (coordinate/coordtest).
//   - [github.com/startline/startline/profile]: the table Profiler (id
//     ranges and sampled values, in parallel), and saved profiles.
//   - [github.com/startline/startline/timing]: marks, timelines, their
//     merge across processes, and the waterfall report.
//
// Start with examples/quickstart, which runs the whole path on an embedded
// SQLite database.
package startline
