package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/pgxnative"
)

// selectSQL is pgbench's select-only transaction (pgbench -S).
const selectSQL = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"

// stmtName names the statement each connection prepares, as pgbench -M
// prepared does.
const stmtName = "startline_pgbench_select"

// Modes are the pgx paths a client can take, from pgx's most general to its
// cheapest; see PERFORMANCE.md for what each costs in client CPU per query.
const (
	// ModeCache runs the SQL text through pgx.Conn.QueryRow with pgx's
	// default QueryExecModeCacheStatement: pgx looks the text up in its
	// per-connection statement cache, boxes the argument into an any and
	// watches the context for every query.
	ModeCache = "cache"
	// ModePrepared prepares the statement by name once per connection and
	// runs it by name through QueryRow: no cache lookup, but the same
	// boxing, encoding plan and context watch.
	ModePrepared = "prepared"
	// ModeRawCtx goes below pgx.Conn to pgconn.ExecStatement with a
	// pre-encoded binary int4 parameter and reads the binary int4 result by
	// hand, still passing the run's context to every query.
	ModeRawCtx = "raw-ctx"
	// ModeRaw is ModeRawCtx without the per-query context watch: the
	// client watches the run's context once, and when it ends sets a past
	// deadline on the connection's socket, which ends any query in flight.
	// It spends the least client CPU per query, and is the default.
	ModeRaw = "raw"
)

var modes = []string{ModeCache, ModePrepared, ModeRawCtx, ModeRaw}

func validMode(m string) bool {
	for _, v := range modes {
		if v == m {
			return true
		}
	}
	return false
}

// errNoConn is returned when a worker's session is not a pgxnative session.
var errNoConn = errors.New("pgbench: the worker's session has no pgx connection (want a *pgxnative.Session)")

// client is one worker's connection and prepared statement, kept for the
// whole run as a pgbench client keeps them. Only its worker's goroutine
// uses it.
type client struct {
	conn   *pgx.Conn
	stmt   *pgconn.StatementDescription
	param  [4]byte     // the aid, binary int4, rewritten in place
	params [][]byte    // {param[:]}, made once
	stop   func() bool // stops watching the run's context (ModeRaw)
	watch  context.Context
	sum    int64 // abalances read, so that reading the result is not optimised away
}

var (
	binaryFormat = []int16{pgx.BinaryFormatCode}
)

// clients holds one client per worker, indexed by Worker.ID: each worker
// finds its own connection with one index, and no worker touches another's
// slot.
type clients struct {
	mode      string
	naccounts int64
	slots     []*client
}

func newClients(mode string, workers int, naccounts int64) *clients {
	return &clients{mode: mode, naccounts: naccounts, slots: make([]*client, workers)}
}

// get returns w's client, making it on w's first operation: it takes the
// *pgx.Conn out of the worker's session once and prepares the statement.
func (cs *clients) get(ctx context.Context, w *loadtest.Worker) (*client, error) {
	id := w.ID()
	if id >= len(cs.slots) {
		return nil, fmt.Errorf("pgbench: worker %d beyond the %d clients made", id, len(cs.slots))
	}
	if c := cs.slots[id]; c != nil {
		return c, nil
	}
	s, ok := w.Session().(*pgxnative.Session)
	if !ok || s.Conn() == nil {
		return nil, errNoConn
	}
	c, err := newClient(ctx, s.Conn(), cs.mode)
	if err != nil {
		return nil, err
	}
	cs.slots[id] = c
	return c, nil
}

// newClient prepares the statement on conn as mode needs it.
func newClient(ctx context.Context, conn *pgx.Conn, mode string) (*client, error) {
	c := &client{conn: conn}
	c.params = [][]byte{c.param[:]}
	switch mode {
	case ModePrepared:
		if _, err := conn.Prepare(ctx, stmtName, selectSQL); err != nil {
			return nil, fmt.Errorf("pgbench: prepare: %w", err)
		}
	case ModeRaw, ModeRawCtx:
		sd, err := conn.PgConn().Prepare(ctx, stmtName, selectSQL, nil)
		if err != nil {
			return nil, fmt.Errorf("pgbench: prepare: %w", err)
		}
		c.stmt = sd
	}
	return c, nil
}

// op returns the select-only operation for cs's mode.
func (cs *clients) op() loadtest.Operation {
	run := cs.runRaw
	switch cs.mode {
	case ModeCache:
		run = cs.runQueryRow(selectSQL)
	case ModePrepared:
		run = cs.runQueryRow(stmtName)
	case ModeRawCtx:
		run = cs.runRawCtx
	}
	return loadtest.Operation{Name: "select", Weight: 1, Run: run}
}

func (cs *clients) aid(w *loadtest.Worker) int64 { return w.Rand().Int64N(cs.naccounts) + 1 }

func (cs *clients) runQueryRow(sql string) func(context.Context, *loadtest.Worker) error {
	return func(ctx context.Context, w *loadtest.Worker) error {
		c, err := cs.get(ctx, w)
		if err != nil {
			return err
		}
		return c.queryRow(ctx, sql, cs.aid(w))
	}
}

// queryRow runs sql (the SQL text or the prepared statement's name) for aid
// through pgx.Conn.QueryRow.
func (c *client) queryRow(ctx context.Context, sql string, aid int64) error {
	var abalance int32
	if err := c.conn.QueryRow(ctx, sql, aid).Scan(&abalance); err != nil {
		return err
	}
	c.sum += int64(abalance)
	return nil
}

func (cs *clients) runRawCtx(ctx context.Context, w *loadtest.Worker) error {
	c, err := cs.get(ctx, w)
	if err != nil {
		return err
	}
	return c.exec(ctx, cs.aid(w))
}

func (cs *clients) runRaw(ctx context.Context, w *loadtest.Worker) error {
	c, err := cs.get(ctx, w)
	if err != nil {
		return err
	}
	if c.watch != ctx {
		c.watchCtx(ctx)
	}
	return c.exec(context.Background(), cs.aid(w))
}

// watchCtx arranges for ctx's end to interrupt a query in flight: pgconn
// skips its own per-query context watch (a registration and a channel per
// query) for context.Background, so the client registers once per run
// instead. A past deadline fails the read or write at once; pgconn then
// closes the connection, which pgxpool discards when the session gives it
// back.
func (c *client) watchCtx(ctx context.Context) {
	if c.stop != nil {
		c.stop()
	}
	nc := c.conn.PgConn().Conn()
	c.watch = ctx
	c.stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
}

// exec runs the prepared statement for aid with a binary int4 parameter and
// a binary result, reading the one column by hand.
func (c *client) exec(ctx context.Context, aid int64) error {
	binary.BigEndian.PutUint32(c.param[:], uint32(aid))
	rr := c.conn.PgConn().ExecStatement(ctx, c.stmt, c.params, binaryFormat, binaryFormat)
	for rr.NextRow() {
		if v := rr.Values(); len(v) == 1 && len(v[0]) == 4 {
			c.sum += int64(int32(binary.BigEndian.Uint32(v[0])))
		}
	}
	_, err := rr.Close()
	return err
}

// close stops every client's context watch.
func (cs *clients) close() {
	for _, c := range cs.slots {
		if c != nil && c.stop != nil {
			c.stop()
		}
	}
}
