// Package sqlcoord is a coordinator backend (a coordinate.Backend) over
// three tables in any database/sql database: PostgreSQL, MySQL/MariaDB,
// SQLite, Snowflake. The rules of the barrier are the kit's, in package
// coordinate; this package only stores and reads the records.
//
//	backend, err := sqlcoord.New(sqlcoord.Options{Tables: tables, RunID: "run-1"})
//	run, err := coordinate.NewRun(ctx, backend, opts)     // the orchestrator
//	nodes, err := coordinate.NewClient(backend, opts)     // each node process
//
// # Tables
//
// [Tables] names them: Prefix+"runs" (one row per run: status WAITING,
// STARTED or ABORTED, the readiness rule the orchestrator waits for, the
// start instant, the concurrency set by a scale before the start, the
// abort reason), Prefix+"nodes" (one row per node: state, phase, ready
// time, last heartbeat, when it saw the start, its measured clock offset
// and error bound, the error it left with) and Prefix+"events" (control
// events, primary key (run_id, seq)). They are created on demand with
// CREATE TABLE IF NOT EXISTS, with the column types of the dialect
// (dialect.Type) and its placeholders (dialect.Rebind). Every instant is a
// BIGINT of Unix nanoseconds on the database's clock: portable and exact.
// Results are not kept here: a node's result goes to a results store
// (package sqlsink, on the same database if you like), from which the
// orchestrator collects it with loadtest.Collect.
//
// # The database's clock, and wake-ups
//
// A Backend is a coordinate.Clock: the database's clock, read with the
// dialect's NowMicros (resolution 1 ms on SQLite, whose clock on one host
// is the local clock anyway, 1 µs elsewhere). With a [Notifier] (package
// pgnotify: PostgreSQL's LISTEN/NOTIFY) it is also a coordinate.Watcher
// of the run's row and of its events: waiting members learn of the start,
// and running ones of an event, within a round trip instead of at their
// next poll, and the backend names itself after the notifier ("pgnotify"
// rather than "sql"). Every member of one process shares one subscription.
//
// # Conditional writes
//
// A node becomes ready with an UPDATE that holds only while the run's row
// still says WAITING (in the same statement), so that a node ready after
// the start was published is refused as late, never left running
// unsynchronised. The orchestrator's writes of the run's row are compare
// and set on its status. An UPDATE that changes no value is not taken for
// a conflict (MySQL counts only the rows it changed).
//
// # Rows not written by this package
//
// The tables may hold rows written by hand, by a broken tool or by a
// hostile writer, and SQLite lets any column hold any type. Integer
// columns the kit can do without are read loosely (an integer, a whole
// float, decimal text), so that one bad value spoils one row, not the
// read: such a row comes back with its Bad field set and the kit skips it,
// logging it once. AddEvent numbers after the highest seq of an event of a
// known kind, so that junk rows with huge seqs do not push the numbering
// out of range; a valid one with the largest seq there is makes it fail
// with [ErrSeqOverflow] rather than wrap.
package sqlcoord
