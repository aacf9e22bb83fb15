package pgxnative

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/startline/startline/pool"
)

// Options configure Open.
type Options struct {
	// MaxConns, if positive, overrides the DSN's pool_max_conns. pgxpool's
	// default, max(4, number of CPUs), is too small for most load tests:
	// set it to at least the number of connections Warm will open.
	MaxConns int32
	// Config, if not nil, may change the parsed config before the pool is
	// made (e.g. ConnConfig.RuntimeParams or MaxConnIdleTime).
	Config func(*pgxpool.Config)
}

// Pool is a [pool.Pool] over a *pgxpool.Pool. Its methods are safe for
// concurrent use, as pool.Pool documents.
type Pool struct {
	p      *pgxpool.Pool
	closed atomic.Bool
}

// New returns a Pool over p, which it takes ownership of.
func New(p *pgxpool.Pool) *Pool { return &Pool{p: p} }

// Open parses dsn (a URL or key=value string, as pgxpool.ParseConfig takes),
// applies opts and makes a pool. No connection is opened until Warm or
// Session.
func Open(ctx context.Context, dsn string, opts Options) (*Pool, error) {
	if opts.MaxConns < 0 {
		return nil, &pool.OptionError{Field: "pgxnative.Options.MaxConns", Reason: fmt.Sprintf("must not be negative, got %d", opts.MaxConns)}
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgxnative: parse DSN: %w", scrub(err, dsnPasswords(dsn)...))
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.Config != nil {
		opts.Config(cfg)
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgxnative: open: %w", scrub(err, cfg.ConnConfig.Password))
	}
	return New(p), nil
}

// Pgx returns the underlying *pgxpool.Pool, still owned by the Pool.
func (p *Pool) Pgx() *pgxpool.Pool { return p.p }

// Warm implements [pool.Pool]. Each connection is acquired from pgxpool and
// verified with Ping. If the pool's MaxConns is lower than opts.Conns, Warm
// returns a [*pool.OptionError] naming both.
func (p *Pool) Warm(ctx context.Context, opts pool.WarmOptions) error {
	if p.closed.Load() {
		return pool.ErrClosed
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	if max := p.p.Config().MaxConns; int64(max) < int64(opts.Conns) {
		return &pool.OptionError{
			Field:  "WarmOptions.Conns",
			Reason: fmt.Sprintf("%d exceeds the pgxpool's MaxConns (%d); raise it with pool_max_conns or pgxnative.Options.MaxConns", opts.Conns, max),
		}
	}
	pw := p.p.Config().ConnConfig.Password
	return pool.WarmConns(ctx, opts, func(ctx context.Context, _ int) (func(), error) {
		c, err := p.p.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("pgxnative: open: %w", scrub(err, pw))
		}
		if err := c.Ping(ctx); err != nil {
			c.Release()
			return nil, fmt.Errorf("pgxnative: ping: %w", scrub(err, pw))
		}
		return c.Release, nil
	})
}

// Session implements [pool.Pool]: it acquires a connection and pins it until
// the Session is closed. The returned value is a [*Session].
func (p *Pool) Session(ctx context.Context) (pool.Session, error) {
	if p.closed.Load() {
		return nil, pool.ErrClosed
	}
	c, err := p.p.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgxnative: session: %w", scrub(err, p.p.Config().ConnConfig.Password))
	}
	return &Session{p: p, c: c}, nil
}

// Close closes the pgxpool, waiting for connections in use to be given back
// (as pgxpool.Pool.Close does). Closing twice returns nil.
func (p *Pool) Close() error {
	if !p.closed.Swap(true) {
		p.p.Close()
	}
	return nil
}

// Session is one worker's [pool.Session], pinning one connection. When
// that connection dies (the server terminated it, the network reset it, a
// cancelled query left it broken), the query that found out fails, the
// Session gives the dead connection back (pgxpool destroys a closed
// connection on release) and the next Query acquires a fresh one: a
// worker recovers by itself once the database is reachable again.
type Session struct {
	p      *Pool
	c      *pgxpool.Conn // nil after a dead connection was given back, until the next Query
	closed bool
}

// Conn returns the pinned connection, for typed arguments and scans on the
// hot path, or nil after Close or while the session has no connection
// (after one died, until the next Query). The Session still owns it: do not
// close it.
func (s *Session) Conn() *pgx.Conn {
	if s.c == nil {
		return nil
	}
	return s.c.Conn()
}

// Query implements [pool.Session]. pgx prepares the query text on first use
// on this connection and reuses the statement afterwards.
func (s *Session) Query(ctx context.Context, query string, args ...any) (int64, error) {
	if s.c == nil {
		if err := s.reacquire(ctx); err != nil {
			return 0, err
		}
	}
	rows, err := s.c.Query(ctx, query, args...)
	if err != nil {
		s.dropIfDead()
		return 0, fmt.Errorf("pgxnative: query: %w", err)
	}
	var n int64
	for rows.Next() {
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		s.dropIfDead()
		return n, fmt.Errorf("pgxnative: query: %w", err)
	}
	return n, nil
}

// reacquire takes a new connection for a session whose connection died.
func (s *Session) reacquire(ctx context.Context) error {
	if s.closed {
		return pool.ErrClosed
	}
	if s.p.closed.Load() {
		return pool.ErrClosed
	}
	c, err := s.p.p.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgxnative: reconnect: %w", scrub(err, s.p.p.Config().ConnConfig.Password))
	}
	s.c = c
	return nil
}

// dropIfDead gives the connection back if it is closed, so that the next
// Query takes another. Only after an error: the usual path pays nothing.
func (s *Session) dropIfDead() {
	if s.c != nil && s.c.Conn().IsClosed() {
		s.c.Release() // pgxpool destroys a closed connection
		s.c = nil
	}
}

// Close gives the connection back to the pool. Closing twice returns nil.
func (s *Session) Close() error {
	s.closed = true
	if s.c != nil {
		s.c.Release()
		s.c = nil
	}
	return nil
}

// scrub returns err with every occurrence of the passwords in its text
// replaced, keeping err reachable through Unwrap for errors.Is and errors.As.
func scrub(err error, passwords ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, pw := range passwords {
		if pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// dsnPasswords finds the password in dsn without pgx's help, for scrubbing
// the error of a DSN that pgx could not parse, which may be too malformed for
// pgx to redact. It returns the password as written and, if different,
// URL-unescaped.
func dsnPasswords(dsn string) []string {
	var pw string
	if _, rest, ok := strings.Cut(dsn, "://"); ok {
		// URL form; url.Parse may reject it (that may be why pgx did), so
		// take the userinfo by hand: up to the last '@' before the path.
		if i := strings.IndexAny(rest, "/?"); i >= 0 {
			rest = rest[:i]
		}
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			_, pw, _ = strings.Cut(rest[:i], ":")
		}
	} else if _, rest, ok := strings.Cut(dsn, "password="); ok {
		// key=value form: password=secret or password='se cret'
		if strings.HasPrefix(rest, "'") {
			pw, _, _ = strings.Cut(rest[1:], "'")
		} else {
			pw, _, _ = strings.Cut(rest, " ")
		}
	}
	if u, err := url.PathUnescape(pw); err == nil && u != pw {
		return []string{pw, u}
	}
	return []string{pw}
}

var (
	_ pool.Pool    = (*Pool)(nil)
	_ pool.Session = (*Session)(nil)
)
