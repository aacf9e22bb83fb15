package pool

import (
	"context"
	"time"
)

// StatementHistory is implemented by a Pool whose database records its own
// timing of every statement, split into what a client cannot see (waiting
// for the warehouse, compiling, executing), as Snowflake's QUERY_HISTORY
// does. A Runner that finds it (once, in loadtest.New) joins that record to
// what it measured and reports, per operation and phase, how much of each
// operation's latency was the server's and how much was the client's.
//
// A Runner calls Statements once per run, after the measured window: when
// the workers have stopped and their sessions are closed, and before the
// result goes to the sinks, as a span of its own (timing.ServerHistory).
// It never runs between the start signal and the first query, nor while
// the workers run, so that reading the history costs the measurement
// nothing.
//
// Statements returns the statements that the pool's worker sessions ran
// and that ended within q's range, at most q.Limit of them (the latest
// first, so that the measured window is read before the warmup). It must
// tell each statement's worker, phase and operation, which the pool learns
// from the Runner through [PhaseTagger] (Snowflake carries them in every
// statement's QUERY_TAG), and must return only the statements of this
// pool: not those of another process of the same run. When a history lags
// behind the statements (a record may appear some time after its statement
// ended), Statements waits, within a bound of its own, until it holds
// q.Expect statements. It is called from one goroutine, while nothing else
// uses the pool.
type StatementHistory interface {
	Statements(ctx context.Context, q HistoryQuery) (History, error)
}

// HistoryQuery says which statements a Runner asks a [StatementHistory]
// for.
type HistoryQuery struct {
	// From and To bound the statements' end, on this host's clock: the
	// start instant of the run and the end of its teardown. A reader
	// widens them by what it knows of its server's clock.
	From, To time.Time
	// Limit is the most statements to return; positive.
	Limit int
	// Expect is how many operations succeeded in the range: a history
	// that holds fewer statements may still be catching up.
	Expect int64
}

// History is what a [StatementHistory] read.
type History struct {
	// Statements are the statements read, in no particular order.
	Statements []StatementTiming
	// Truncated says that the read stopped at HistoryQuery.Limit (or at a
	// bound of the reader's own), so that statements of the range were
	// left unread.
	Truncated bool
	// Resolution is the unit the server records durations in (a
	// millisecond for Snowflake): a statement's Elapsed may exceed what
	// the client measured of it by up to that much.
	Resolution time.Duration
}

// StatementTiming is one statement as the server timed it.
type StatementTiming struct {
	// Worker, Phase and Operation are what the Runner tagged the
	// statement's session with (see PhaseTagger) when it ran.
	Worker    int
	Phase     string
	Operation string
	// Start is when the server began the statement, on the server's
	// clock: it orders a worker's statements.
	Start time.Time
	// Failed says the statement ended in an error.
	Failed bool
	// CacheHit says the server answered from a cache of results, without
	// running the statement.
	CacheHit bool
	// The parts of the server's time: waiting for compute to be
	// provisioned (a warehouse resuming), waiting for a free slot,
	// compiling and executing, and the whole, from the statement's arrival
	// to its end (which may hold more than the parts).
	QueuedProvisioning time.Duration
	QueuedOverload     time.Duration
	Compilation        time.Duration
	Execution          time.Duration
	Elapsed            time.Duration
}
