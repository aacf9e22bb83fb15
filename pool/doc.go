// Package pool defines how startline opens, warms and uses the database
// connections of a load test, and holds the warm-up logic its adapters share.
//
// A [Pool] is a set of connections to one database. Before the start signal,
// the Runner calls [Pool.Warm] to open N connections in parallel, with a
// bound, so that no worker pays for a connection after the start; each
// attempt is reported through [WarmOptions.OnConn] with its own monotonic
// open latency (the pool.init phase). After the start, each worker takes one
// [Session] and runs its queries through it.
//
// Adapters live in sub-packages so that importing pool pulls in no driver:
//
//   - pool/sqlpool: any database/sql driver (pgx stdlib, SQLite, gosnowflake, ...)
//   - pool/pgxnative: a native github.com/jackc/pgx/v5/pgxpool pool
//
// An adapter implements Warm with [WarmConns], which owns the fan-out, the
// timing and the error report, so that every adapter warms the same way. An
// adapter checks its conformance with package pool/pooltest.
//
// # Ownership
//
// Whoever creates a Pool closes it. A Runner warms a Pool and takes sessions
// from it but never closes it, so that it can run again on the same warm
// connections. A worker closes its own Session, which gives the connection
// back to the Pool; it does not close the connection itself.
//
// # Concurrency
//
// Warm and Session may be called from many goroutines at once. Close must not
// run while Warm or Session is in progress; sessions still open at Close are
// closed by the driver when they are given back. A Session is used by one
// goroutine at a time, which lets it keep a statement cache without locks.
//
// # Errors
//
// Bad options are reported as an [*OptionError] naming the field, which
// matches [ErrInvalidOptions] with errors.Is. A failed warm-up is reported as
// a [*WarmError] that counts the failures and unwraps to each of them. Methods
// called after Close return [ErrClosed], and so does a Session used after its
// own Close; closing a Pool or a Session twice returns nil.
package pool
