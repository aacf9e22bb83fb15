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
//   - A QUERY_TAG on every statement, naming the run, the worker and the
//     phase, as JSON ({"startline":"run-1","worker":3,"phase":"measure"}),
//     so that Snowflake's query history can be joined with startline's
//     timings. The tag is a statement parameter (gosnowflake.WithQueryTag):
//     changing phase sends no ALTER SESSION. A [Session] is a
//     pool.PhaseTagger: a Runner re-tags it whenever its worker's phase
//     changes, so that no operation needs wrapping.
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
// Package snowflaketest runs a local server that speaks the driver's
// protocol, for tests without an account.
//
// # Concurrency and ownership
//
// As package pool documents: Warm and Session may be called concurrently,
// the caller that made the Pool closes it, a Session is used by one
// goroutine at a time.
package snowflake
