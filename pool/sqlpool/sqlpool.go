package sqlpool

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/startline/startline/pool"
)

// Options changes how sessions use the DB. The zero value pins a connection
// per session and prepares statements, which suits most load tests.
type Options struct {
	// Shared makes sessions run their queries on the shared *sql.DB instead
	// of pinning one *sql.Conn each; database/sql then picks any idle
	// connection for each query.
	Shared bool
	// NoPrepare makes Query send the query text every time instead of
	// preparing it once per session. Use it when query texts are not a small
	// fixed set (the per-session statement cache is not bounded), or when the
	// driver already caches statements itself.
	NoPrepare bool
}

// Pool is a [pool.Pool] over a *sql.DB. Its methods are safe for concurrent
// use, as pool.Pool documents.
type Pool struct {
	db     *sql.DB
	opts   Options
	closed atomic.Bool

	mu      sync.Mutex // serializes changes to the DB's idle limit
	maxIdle int        // the largest MaxIdleConns this Pool has set
}

// New returns a Pool over db, which it takes ownership of.
func New(db *sql.DB, opts Options) *Pool {
	return &Pool{db: db, opts: opts}
}

// DB returns the underlying *sql.DB, still owned by the Pool.
func (p *Pool) DB() *sql.DB { return p.db }

// Warm implements [pool.Pool]. Each connection is taken with db.Conn and
// verified with PingContext.
//
// database/sql does not report its idle limits, so Warm sets MaxIdleConns to
// the largest Conns it has been asked to warm (or more, never less than
// before through this Pool), and sets ConnMaxIdleTime to 0 (no limit): idle
// closing would undo the warm-up while workers wait for the start signal.
// If the DB's MaxOpenConns is lower than opts.Conns, Warm returns a
// [*pool.OptionError] naming both.
func (p *Pool) Warm(ctx context.Context, opts pool.WarmOptions) error {
	if p.closed.Load() {
		return pool.ErrClosed
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	if max := p.db.Stats().MaxOpenConnections; max > 0 && max < opts.Conns {
		return &pool.OptionError{
			Field:  "WarmOptions.Conns",
			Reason: fmt.Sprintf("%d exceeds the sql.DB's MaxOpenConns (%d); raise it with SetMaxOpenConns", opts.Conns, max),
		}
	}
	p.mu.Lock()
	if opts.Conns > p.maxIdle {
		p.maxIdle = opts.Conns
		p.db.SetMaxIdleConns(p.maxIdle)
	}
	p.db.SetConnMaxIdleTime(0)
	p.mu.Unlock()

	return pool.WarmConns(ctx, opts, func(ctx context.Context, _ int) (func(), error) {
		c, err := p.db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("sqlpool: open: %w", err)
		}
		if err := c.PingContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("sqlpool: ping: %w", err)
		}
		return func() { c.Close() }, nil
	})
}

// Session implements [pool.Pool]. Unless Options.Shared is set it takes a
// connection from the DB and pins it until the Session is closed. The
// returned value is a [*Session].
func (p *Pool) Session(ctx context.Context) (pool.Session, error) {
	if p.closed.Load() {
		return nil, pool.ErrClosed
	}
	s := &Session{p: p, opts: p.opts, q: p.db}
	if !p.opts.Shared {
		c, err := p.db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("sqlpool: session: %w", err)
		}
		s.conn, s.q = c, c
	}
	return s, nil
}

// Close closes the DB. Closing twice returns nil.
func (p *Pool) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	if err := p.db.Close(); err != nil {
		return fmt.Errorf("sqlpool: close: %w", err)
	}
	return nil
}

// querier is what *sql.Conn and *sql.DB have in common for a Session.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// Session is one worker's [pool.Session]. Like every pool.Session it is used
// by one goroutine at a time, which is why its statement cache has no lock.
//
// A pinned connection that dies (database/sql learns it from the driver's
// driver.ErrBadConn, or the driver reports it invalid) is closed after the
// query that found out, with its statements, and the next Query pins a
// fresh one: a worker recovers by itself once the database is reachable
// again. (Shared sessions need nothing: database/sql replaces bad
// connections of the DB itself.)
type Session struct {
	p      *Pool
	opts   Options
	conn   *sql.Conn // nil when Options.Shared, and after a dead one was closed
	q      querier   // conn, or the DB; nil while conn is being replaced
	stmts  map[string]*sql.Stmt
	closed bool
}

// Conn returns the pinned connection, for callers that want typed scans or
// driver-specific calls (e.g. conn.Raw), or nil when Options.Shared is set
// or while a connection that died awaits its replacement (the next Query).
// The connection stays owned by the Session: do not close it.
func (s *Session) Conn() *sql.Conn { return s.conn }

// Query implements [pool.Session]. Unless Options.NoPrepare is set, the first
// Query of a given text prepares it and later ones reuse the statement.
func (s *Session) Query(ctx context.Context, query string, args ...any) (int64, error) {
	if s.closed {
		return 0, pool.ErrClosed
	}
	if s.q == nil {
		if err := s.repin(ctx); err != nil {
			return 0, err
		}
	}
	n, err := s.query(ctx, query, args)
	if err != nil && s.conn != nil {
		s.dropIfDead(ctx, err)
	}
	return n, withCtxErr(ctx, err)
}

// withCtxErr adds ctx's error to err when ctx is done and err does not
// already wrap it: a driver that interrupts a statement for a done context
// may return its own error (SQLite's "interrupted"), which would otherwise
// be counted as the statement's failure instead of the run's end.
func withCtxErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", err, cerr)
	}
	return err
}

func (s *Session) query(ctx context.Context, query string, args []any) (int64, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if s.opts.NoPrepare {
		rows, err = s.q.QueryContext(ctx, query, args...)
	} else {
		var st *sql.Stmt
		if st, err = s.stmt(ctx, query); err != nil {
			return 0, err
		}
		rows, err = st.QueryContext(ctx, args...)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlpool: query: %w", err)
	}
	var n int64
	for rows.Next() {
		n++
	}
	err = rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("sqlpool: query: %w", err)
	}
	return n, nil
}

// repin pins a new connection in place of one that died.
func (s *Session) repin(ctx context.Context) error {
	if s.p.closed.Load() {
		return pool.ErrClosed
	}
	c, err := s.p.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlpool: reconnect: %w", err)
	}
	s.conn, s.q = c, c
	return nil
}

// dropIfDead closes the pinned connection and its statements if it is
// dead, so that the next Query pins another. It is dead if err says so
// (driver.ErrBadConn, sql.ErrConnDone), else if the driver says so
// (driver.Validator), else if a ping fails: a round trip, but only after
// an error (a statement error leaves a working connection, which the ping
// keeps), never on the usual path. When ctx is done there is no asking:
// the next query finds out.
func (s *Session) dropIfDead(ctx context.Context, err error) {
	dead := errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)
	if !dead && ctx.Err() == nil {
		var known bool
		if dead, known = s.connDead(); !known {
			dead = s.conn.PingContext(ctx) != nil
		}
	}
	if !dead {
		return
	}
	for _, st := range s.stmts {
		_ = st.Close()
	}
	s.stmts = nil
	_ = s.conn.Close() // database/sql discards a connection it knows is bad
	s.conn, s.q = nil, nil
}

// connDead asks the driver whether the pinned connection is dead, without
// a round trip: known is false when the driver cannot tell
// (driver.Validator); a connection database/sql already closed is dead.
func (s *Session) connDead() (dead, known bool) {
	valid := true
	rerr := s.conn.Raw(func(dc any) error {
		if v, ok := dc.(driver.Validator); ok {
			valid, known = v.IsValid(), true
		}
		return nil
	})
	if rerr != nil {
		return true, true
	}
	return !valid, known
}

// deadAfterClose tells, after closing a statement failed, whether the
// connection is dead: the driver says so, or a ping fails (bounded, and
// never on the usual path, where closing the statements succeeds).
func (s *Session) deadAfterClose() bool {
	if dead, known := s.connDead(); known {
		return dead
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.conn.PingContext(ctx) != nil
}

// stmt returns the session's prepared statement for query, preparing it on
// first use.
func (s *Session) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.q.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqlpool: prepare: %w", err)
	}
	if s.stmts == nil {
		s.stmts = make(map[string]*sql.Stmt)
	}
	s.stmts[query] = st
	return st, nil
}

// Close closes the session's statements and gives its connection back to
// the pool. Closing twice returns nil, and so does closing a session whose
// connection has died: there is nothing left to close.
func (s *Session) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	if s.conn != nil {
		if err := errors.Join(errs...); err != nil && s.deadAfterClose() {
			// The connection died under the session (a cancelled query, as
			// an abort cancels every operation, makes pgx close it): its
			// statements went with it, and closing what is already closed
			// is not an error.
			errs = nil
		}
		if err := s.conn.Close(); err != nil && !errors.Is(err, sql.ErrConnDone) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlpool: close session: %w", err)
	}
	return nil
}

var (
	_ pool.Pool    = (*Pool)(nil)
	_ pool.Session = (*Session)(nil)
)
