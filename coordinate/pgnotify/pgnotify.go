package pgnotify

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/pool/dialect"
)

// Notifier is a sqlcoord.Notifier over PostgreSQL's LISTEN/NOTIFY. Each
// subscription holds its own connection (a listening connection can do
// nothing else); notifications are sent on one shared connection, opened on
// first use and reopened after a failure. It is safe for concurrent use.
type Notifier struct {
	cfg *pgx.ConnConfig

	mu     sync.Mutex // guards conn and serializes its use
	conn   *pgx.Conn
	closed bool
}

// ErrClosed is returned by a Notifier's methods after Close.
var ErrClosed = errors.New("pgnotify: notifier closed")

// New returns a Notifier for the PostgreSQL database at connString (a URL
// or keyword/value string, as pgx takes). It connects on first use.
func New(connString string) (*Notifier, error) {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		// pgx's parse errors do not repeat the password.
		return nil, fmt.Errorf("pgnotify: connection string: %w", err)
	}
	return &Notifier{cfg: cfg}, nil
}

// Name returns "pgnotify": the SQL tables coordinator with this notifier
// is the backend a merged result names so.
func (*Notifier) Name() string { return "pgnotify" }

// Notify sends a notification with payload key on channel.
func (n *Notifier) Notify(ctx context.Context, channel, key string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	if n.conn == nil {
		c, err := pgx.ConnectConfig(ctx, n.cfg)
		if err != nil {
			return fmt.Errorf("pgnotify: connecting to notify: %w", err)
		}
		n.conn = c
	}
	if _, err := n.conn.Exec(ctx, "SELECT pg_notify($1, $2)", channel, key); err != nil {
		// The connection may be broken: the next call opens a new one.
		_ = n.conn.Close(context.WithoutCancel(ctx))
		n.conn = nil
		return fmt.Errorf("pgnotify: notify %s: %w", channel, err)
	}
	return nil
}

// Close closes the shared connection. Subscriptions are closed on their own.
func (n *Notifier) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	if n.conn == nil {
		return nil
	}
	err := n.conn.Close(context.Background())
	n.conn = nil
	return err
}

// Subscribe opens a connection, listens on channel, and returns once the
// LISTEN has been executed, so that every notification sent after Subscribe
// returns is delivered. Notifications whose payload is not key are ignored.
func (n *Notifier) Subscribe(ctx context.Context, channel, key string) (coordinate.Subscription, error) {
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	ident, err := dialect.Postgres.Ident(channel)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: channel: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, n.cfg)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: connecting to listen: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+ident); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("pgnotify: listen %s: %w", channel, err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	s := &subscription{conn: conn, c: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go s.listen(lctx, key)
	return s, nil
}

// subscription is one listening connection.
type subscription struct {
	conn   *pgx.Conn
	c      chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	err    error
}

// listen waits for notifications until Close or a connection failure;
// after a failure the subscriber falls back on its polls.
func (s *subscription) listen(ctx context.Context, key string) {
	defer close(s.done)
	for {
		nt, err := s.conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		if nt.Payload != key {
			continue
		}
		select {
		case s.c <- struct{}{}:
		default: // a wake is already pending
		}
	}
}

// C implements coordinate.Subscription.
func (s *subscription) C() <-chan struct{} { return s.c }

// Close stops listening and closes the connection.
func (s *subscription) Close() error {
	s.once.Do(func() {
		s.cancel()
		<-s.done
		s.err = s.conn.Close(context.Background())
	})
	return s.err
}
