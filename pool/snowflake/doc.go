// Package snowflake is startline's pool adapter for Snowflake, through
// github.com/snowflakedb/gosnowflake. It lives in its own package so that
// importing loadtest never compiles the driver, whose cold build takes
// minutes; it imports pool and timing, never loadtest.
//
// A [Pool] is a [sqlpool.Pool] over the driver, plus what a benchmark on
// Snowflake needs:
//
//   - Warm-up logins in parallel under the bound of pool.WarmOptions, each
//     timed ([Pool.Logins] and the pool.conn marks); a login throttled by
//     Snowflake (HTTP 429, or 5xx once the driver's own retries ran out) is
//     retried with jittered exponential backoff inside its warm-up slot, and
//     a permanent failure (wrong password, unknown account, unreachable
//     host) fails pool.init at once with a [*LoginError] naming account,
//     host and user, never the password or a token.
//   - [Settings] applied to every session at login, as session parameters,
//     so that they cost no round trip: the result cache off
//     (USE_CACHED_RESULT=FALSE) unless asked for, the warehouse, the
//     statement timeout, and a QUERY_TAG.
//   - A QUERY_TAG on every statement, naming the run, the node (the
//     process), the worker, the phase and the operation, as JSON
//     ({"startline":"run-1","node":"n1","worker":3,"phase":"measure","operation":"point_select"}),
//     so that Snowflake's query history can be joined with startline's
//     timings. The tag is a statement parameter (gosnowflake.WithQueryTag):
//     changing it sends no ALTER SESSION. A [Session] is a
//     pool.PhaseTagger: a Runner re-tags it before every operation whose
//     phase or operation changed, so that no operation needs wrapping; each
//     tag is built once and then looked up, allocating nothing.
//   - [Pool.Statements] (pool.StatementHistory): the server's own split of
//     every statement's time, read back after the run from
//     INFORMATION_SCHEMA.QUERY_HISTORY_BY_USER by the run's and node's
//     tag: queued for provisioning (a warehouse resuming), queued for a
//     slot (QUEUED_OVERLOAD_TIME), compiling, executing, the whole elapsed
//     time, and whether the result cache answered. A loadtest Runner joins
//     it to its own latencies (loadtest.ServerSplit).
//   - [Pool.Prepare]: resume the warehouse before the start barrier, as a
//     phase of its own ([PhaseWarehouseResume]).
//   - [Pool.ClassifyError] (pool.Classifier): what Snowflake's errors mean
//     to a Runner, which cannot read their SQLSTATE by itself: a
//     throttled login is a retryable connection error, so that pool.init
//     is retried when the login retries ran out; a statement timeout is a
//     timeout; a compilation error is a statement error, which opens no
//     fault.
//
// The database/sql handle ([Pool.DB]) serves the coordinator tables, the
// profiler and the results sink with [dialect.Snowflake].
//
// # The query history on a real account
//
// The same SQL runs on a real account and on the local server. Times are
// bound as epoch milliseconds through TO_TIMESTAMP_LTZ(?, 3), which means
// the same in every session TIMEZONE, and the first page ends at the
// server's CURRENT_TIMESTAMP(), so that this host's clock does not decide
// which statements have ended; the range's start is widened by a second
// for the clocks' difference, and kept within the 7 days the functions
// keep.
//
// Lag: Snowflake documents no latency for the Information Schema ("Latency
// of data: None", against 45 minutes to 3 hours for the ACCOUNT_USAGE
// views, https://docs.snowflake.com/en/sql-reference/account-usage), and a
// QUERY_HISTORY function given END_TIME_RANGE_END returns completed
// statements only. Statements does not rely on it for a statement that
// ended a moment before the read: when it finds fewer statements than the
// Runner counted successful operations, it reads again (after 250 ms,
// doubling up to 2 s) until it finds them or Options.HistoryWait
// (DefaultHistoryWait, 15 s) has passed, and then returns what it found;
// the split's matched count shows any shortfall.
//
// Paging: RESULT_LIMIT (default 100, at most 10,000) keeps the statements
// with the latest END_TIME of the range before any WHERE applies, so each
// page asks for 10,000 and is filtered in Go; a full page is followed by
// one that ends at the oldest END_TIME read plus a millisecond (END_TIME
// is whole milliseconds), and QUERY_IDs already read are dropped. The read
// stops at the Runner's cap (loadtest.Config.HistoryLimit), and the split
// says it was sampled. See [Pool.Statements].
//
// Package snowflaketest runs a local server that speaks the driver's
// protocol, for tests without an account.
//
// # Concurrency and ownership
//
// As package pool documents: Warm and Session may be called concurrently,
// the caller that made the Pool closes it, a Session is used by one
// goroutine at a time.
package snowflake
