// Package sqlsink records load test results in a SQL database: PostgreSQL,
// MySQL/MariaDB, SQLite or Snowflake, through database/sql. It is a
// loadtest.Sink.
//
// Five tables, named by a validated prefix (default "startline_"), are
// created on demand (CREATE TABLE IF NOT EXISTS, so any number of sinks and
// processes may share them):
//
//   - PREFIXtest_results: one row per run and node: status ("started",
//     "done" or "failed"), the wall-clock anchor, the configuration (as JSON
//     and its main numbers as columns), the warmup and measure totals and
//     percentiles, why the run stopped early and its error.
//   - PREFIXintervals: the per-interval time series, one row per interval
//     for all operations (operation = ”) and one per operation.
//   - PREFIXtimeline: every timing mark, with its offsets from the anchor.
//   - PREFIXhistograms: the encoded HdrHistogram (compressed, base64) of
//     each phase, for all operations and per operation, so that percentiles
//     over many workers and processes are exact: see [MergedHistogram].
//   - PREFIXstream: the intervals nodes stream as they close, one row per
//     run, seq and node, each a whole loadtest.StreamRecord: the Sink is a
//     loadtest.StreamStore (Config.Stream) and a loadtest.StreamSource that
//     an orchestrator's loadtest.LiveMerge follows. A node's rows stay when
//     its result is written, so that what a node killed mid-run streamed
//     is kept.
//
// TestStart writes a provisional test_results row (status "started"); Write
// replaces it and writes the rest, in one transaction, with multi-row
// INSERTs in batches. Writing a result deletes the rows of its run and node
// first, so writing the same result twice leaves one copy.
//
// Nothing is lost: when the database cannot be written (down, refused,
// locked, too slow for Options.Timeout), Write saves the result as a JSON
// file and returns a [*SpillError] naming it. [LoadFile], or the command in
// examples/loadresults, loads such a file later.
//
// A Sink may be shared by Runners that run at once: its transactions take
// turns. Sinks of many processes may share the tables; on MySQL and
// MariaDB their transactions are READ COMMITTED, so that their deletes and
// inserts of different nodes take no gap locks and cannot deadlock.
//
// Column types come from the dialect (dialect.Dialect.Type), and so do the
// placeholders (statements are written with "?" and rebound with
// dialect.Dialect.Rebind). The sink's tests run the conformance suite of
// package loadtest/sinktest on SQLite, PostgreSQL, MariaDB and the local
// Snowflake-protocol server, and on the spill path.
package sqlsink
