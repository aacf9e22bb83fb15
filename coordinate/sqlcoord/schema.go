package sqlcoord

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/pool/dialect"
)

// DefaultPrefix is the table prefix used when Tables.Prefix is empty.
const DefaultPrefix = "startline_"

// Errors of this package, beside those of package coordinate that it wraps.
var (
	// ErrInvalid is wrapped by errors about bad options or arguments; the
	// message names the field. It also matches coordinate.ErrInvalid.
	ErrInvalid = fmt.Errorf("sqlcoord: %w", coordinate.ErrInvalid)
	// ErrSeqOverflow is returned by AddEvent when the events table already
	// holds an event of a known kind with the largest seq there is, so no
	// next seq exists (only a hand-written or hostile row can do that).
	ErrSeqOverflow = errors.New("sqlcoord: event seq would overflow")
)

// Tables names the coordinator's three tables in one database: Prefix +
// "runs", Prefix + "nodes" and Prefix + "events". Several runs share one
// set of tables (rows are keyed by run id); several users or test suites
// keep apart with different prefixes.
type Tables struct {
	// DB is the database holding the tables. Required.
	DB *sql.DB
	// Dialect is DB's SQL dialect. Required.
	Dialect dialect.Dialect
	// Prefix starts every table name; it must make valid identifiers
	// (letters, digits, underscores; it may be schema-qualified, e.g.
	// "load.sl_"). Empty means DefaultPrefix.
	Prefix string
}

// schema is a validated Tables with its statements built once.
type schema struct {
	db                 *sql.DB
	d                  dialect.Dialect
	runs, nodes, evts  string // quoted names
	clockExpr          string
	clockRes           time.Duration
	notifyChannel      string // unquoted, for a Notifier
	q                  queries
	createOnce         chan struct{} // holds one token while nobody is creating
	created            bool          // guarded by the token
	createStmts, drops []string
}

// compile validates t and builds its statements.
func (t Tables) compile() (*schema, error) {
	if t.DB == nil {
		return nil, fmt.Errorf("%w: Tables.DB is nil", ErrInvalid)
	}
	expr, res := t.Dialect.NowMicros()
	if expr == "" {
		return nil, fmt.Errorf("%w: Tables.Dialect is the zero Dialect; use dialect.Postgres, MySQL, SQLite or Snowflake", ErrInvalid)
	}
	prefix := t.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	s := &schema{db: t.DB, d: t.Dialect, clockExpr: expr, clockRes: res, createOnce: make(chan struct{}, 1)}
	s.createOnce <- struct{}{}
	for _, x := range []struct {
		dst  *string
		name string
	}{{&s.runs, "runs"}, {&s.nodes, "nodes"}, {&s.evts, "events"}} {
		q, err := t.Dialect.Ident(prefix + x.name)
		if err != nil {
			return nil, fmt.Errorf("%w: Tables.Prefix %q: %v", ErrInvalid, prefix, err)
		}
		*x.dst = q
	}
	// The notification channel is one identifier: the prefix without any
	// schema qualification, plus "notify".
	s.notifyChannel = strings.ToLower(prefix[strings.LastIndexByte(prefix, '.')+1:]) + "notify"
	s.q = s.build()
	s.createStmts, s.drops = s.ddl()
	return s, nil
}

// queries are the statements, with the dialect's placeholders.
type queries struct {
	insertRun, readRun, putRun, runStatus                string
	insertNode, readyNode, stateNode, beatNode, lostNode string
	readNodes, nodeExists                                string
	insertEvent, readEvents, maxSeq                      string
}

// build writes the statements with "?" placeholders, which the dialect
// rebinds; every statement takes its arguments in the order written.
func (s *schema) build() queries {
	p := s.d.Rebind
	r, n, e := s.runs, s.nodes, s.evts
	return queries{
		insertRun: p(`INSERT INTO ` + r + ` (run_id, status, expected, expect, concurrency, created_ns, published_ns, at_ns, start_seq, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		readRun:   p(`SELECT status, expected, expect, concurrency, created_ns, published_ns, at_ns, start_seq, reason FROM ` + r + ` WHERE run_id = ?`),
		putRun:    p(`UPDATE ` + r + ` SET status = ?, expected = ?, expect = ?, concurrency = ?, published_ns = ?, at_ns = ?, start_seq = ?, reason = ? WHERE run_id = ? AND status = ?`),
		runStatus: p(`SELECT status FROM ` + r + ` WHERE run_id = ?`),

		insertNode: p(`INSERT INTO ` + n + ` (run_id, node_id, state, phase, concurrency, joined_ns, ready_ns, beat_ns, seen_ns, clock_offset_ns, clock_error_ns, err_text) VALUES (?, ?, ?, ?, ?, ?, 0, ?, 0, ?, ?, NULL)`),
		// A node becomes ready only while the run still waits: one that
		// comes later was not counted by the orchestrator and is late.
		readyNode: p(`UPDATE ` + n + ` SET state = ?, phase = ?, ready_ns = ?, beat_ns = ? WHERE run_id = ? AND node_id = ? AND EXISTS (SELECT 1 FROM ` + r + ` WHERE run_id = ? AND status = 'WAITING')`),
		stateNode: p(`UPDATE ` + n + ` SET state = ?, phase = ?, ready_ns = ?, seen_ns = ?, beat_ns = ?, err_text = ? WHERE run_id = ? AND node_id = ?`),
		// A heartbeat writes only the beat: a beat still in flight must not
		// undo a state written meanwhile.
		beatNode:   p(`UPDATE ` + n + ` SET beat_ns = ? WHERE run_id = ? AND node_id = ?`),
		lostNode:   p(`UPDATE ` + n + ` SET state = 'LOST' WHERE run_id = ? AND node_id = ? AND state NOT IN ('DONE', 'FAILED', 'LOST')`),
		readNodes:  p(`SELECT node_id, state, phase, concurrency, joined_ns, ready_ns, beat_ns, seen_ns, clock_offset_ns, clock_error_ns, err_text FROM ` + n + ` WHERE run_id = ? ORDER BY node_id`),
		nodeExists: p(`SELECT COUNT(*) FROM ` + n + ` WHERE run_id = ? AND node_id = ?`),

		insertEvent: p(`INSERT INTO ` + e + ` (run_id, seq, kind, concurrency, reason, created_ns) VALUES (?, ?, ?, ?, ?, ?)`),
		readEvents:  p(`SELECT seq, kind, concurrency, reason FROM ` + e + ` WHERE run_id = ? AND seq > ? ORDER BY seq`),
		// Highest first, the known kinds only (see Backend.AddEvent); rows
		// whose seq is not an integer (SQLite sorts text above numbers)
		// are read and passed over.
		maxSeq: p(`SELECT seq FROM ` + e + ` WHERE run_id = ? AND kind IN ('stop', 'abort', 'scale') ORDER BY seq DESC`),
	}
}

// ddl writes the CREATE TABLE and DROP TABLE statements, with the column
// types the dialect gives.
func (s *schema) ddl() (create, drop []string) {
	id, name, text, num := s.d.Type(dialect.ColID), s.d.Type(dialect.ColName), s.d.Type(dialect.ColText), s.d.Type(dialect.ColInt)
	table := func(quoted, key string, cols ...string) string {
		return `CREATE TABLE IF NOT EXISTS ` + quoted + ` (` + strings.Join(cols, ", ") + `, PRIMARY KEY (` + key + `))`
	}
	nn := func(col, typ string) string { return col + " " + typ + " NOT NULL" }
	create = []string{
		table(s.runs, "run_id", nn("run_id", id), nn("status", id), nn("expected", num), "expect "+text, nn("concurrency", num),
			nn("created_ns", num), nn("published_ns", num), nn("at_ns", num), nn("start_seq", num), "reason "+text),
		table(s.nodes, "run_id, node_id", nn("run_id", id), nn("node_id", name), nn("state", id), nn("phase", name),
			nn("concurrency", num), nn("joined_ns", num), nn("ready_ns", num), nn("beat_ns", num), nn("seen_ns", num),
			nn("clock_offset_ns", num), nn("clock_error_ns", num), "err_text "+text),
		table(s.evts, "run_id, seq", nn("run_id", id), nn("seq", num), nn("kind", id), "concurrency "+num,
			"reason "+text, nn("created_ns", num)),
	}
	for _, t := range []string{s.evts, s.nodes, s.runs} {
		drop = append(drop, `DROP TABLE IF EXISTS `+t)
	}
	return create, drop
}

// Create creates the tables if they do not exist. It is idempotent and safe
// to call from many processes at once. A Backend creates them on first use.
func (t Tables) Create(ctx context.Context) error {
	s, err := t.compile()
	if err != nil {
		return err
	}
	return s.create(ctx)
}

// create creates the tables once per schema (and again after a failure).
func (s *schema) create(ctx context.Context) error {
	select {
	case <-s.createOnce:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { s.createOnce <- struct{}{} }()
	if s.created {
		return nil
	}
	for _, q := range s.createStmts {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlcoord: creating tables: %w", err)
		}
	}
	s.created = true
	return nil
}

// Drop drops the three tables, with every run in them. Tests and tools use
// it to clean up; a coordinator never drops tables itself.
func (t Tables) Drop(ctx context.Context) error {
	s, err := t.compile()
	if err != nil {
		return err
	}
	var errs []error
	for _, q := range s.drops {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			errs = append(errs, fmt.Errorf("sqlcoord: %s: %w", q, err))
		}
	}
	return errors.Join(errs...)
}
