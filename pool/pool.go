package pool

import (
	"context"
	"errors"
	"time"
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
