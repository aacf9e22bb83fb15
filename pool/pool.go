package pool

import (
	"context"
	"errors"
	"time"

	"github.com/startline/startline/timing"
)

// DefaultParallel is the number of connections Warm opens at once when
// WarmOptions.Parallel is zero.
const DefaultParallel = 16

// Pool is a set of connections to one database, warmed before a run.
//
// Warm and Session may be called concurrently; Close must not be called
// while either is in progress. The caller that created a Pool owns it and
// closes it: a Runner warms it and takes sessions from it, but never closes it,
// so that it can run again on the same warm connections.
type Pool interface {
	// Warm opens opts.Conns connections, at most opts.Parallel at a time,
	// verifies each with a round trip, and keeps all of them idle in the pool
	// for the run. It calls opts.OnConn once for each connection attempt.
	Warm(ctx context.Context, opts WarmOptions) error
	// Session returns a handle for one worker. A session is used by one
	// goroutine at a time; the worker closes it at the end of the run.
	Session(ctx context.Context) (Session, error)
	// Close closes the pool's connections.
	Close() error
}

// Session is one worker's handle on a Pool: a pinned connection where the
// pool pins them, or the shared pool otherwise.
type Session interface {
	// Query runs query with args, reads and discards every row, and returns
	// the number of rows read. Statements are prepared once per session
	// where the adapter supports it.
	Query(ctx context.Context, query string, args ...any) (rows int64, err error)
	// Close gives the session's connection back to the pool.
	Close() error
}

// WarmOptions says how many connections Warm opens and how.
type WarmOptions struct {
	// Conns is the number of connections to open; it must be positive.
	Conns int
	// Parallel bounds how many are opened at once; zero means DefaultParallel.
	Parallel int
	// OnConn, if not nil, is called once per connection attempt, from the
	// goroutine that made it; calls may be concurrent.
	OnConn func(ConnInfo)
}

// ConnInfo describes one connection attempt made by Warm.
type ConnInfo struct {
	Index int       // 0 .. Conns-1
	Start time.Time // when the attempt began (monotonic)
	End   time.Time // when the connection was open and verified, or failed
	Err   error     // nil when the connection is open and verified
}

// ErrClosed is returned by a Pool's methods after Close.
var ErrClosed = errors.New("pool: closed")

// Optional capabilities. A Runner looks for them once, when it is created
// (loadtest.New), in the manner of database/sql's optional driver
// interfaces; a Pool or Session that lacks one simply goes without.

// Preparer is implemented by a Pool that has work to do once its
// connections are open and before the start signal, such as resuming a
// Snowflake warehouse so that the first queries do not pay for its start.
// A Runner calls Prepare right after pool.init, as a span of its own named
// PreparePhase. The phase needs no registration: timing treats a phase its
// registry does not know as a startup span (see timing.Lookup), so that
// the waterfall, the reports and the Runner's hooks show it as they show
// pool.init.
type Preparer interface {
	Prepare(ctx context.Context) error
	PreparePhase() timing.Phase
}

// PhaseTagger is implemented by a Session that labels its statements with
// the worker, the phase and the operation they belong to (a Snowflake
// QUERY_TAG, say), so that the database's own query history can be joined
// with startline's timings (see StatementHistory). A Runner calls TagPhase
// from the worker's goroutine before the worker's first operation and
// before every operation whose phase or operation differs from the one
// before; with several operations in the workload that is most operations,
// so it must be cheap (no allocation once each phase and operation has
// been seen) and must not do I/O.
type PhaseTagger interface {
	TagPhase(worker int, phase, operation string)
}

// Describer is implemented by a Pool whose settings belong with the
// results, because they are part of what was measured (a Snowflake
// warehouse and result cache setting, say). A Runner records Describe's map
// in Result.Pool. It must not contain secrets.
type Describer interface {
	Describe() map[string]string
}
