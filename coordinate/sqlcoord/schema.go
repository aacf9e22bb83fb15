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
	ErrInvalid = fmt.Errorf("sqlcoord: %w", errInvalidBase)
	// ErrRunExists is returned by NewOrchestrator when the run already has
	// a row: a run id names one run.
	ErrRunExists = errors.New("sqlcoord: run already exists")
	// ErrNoRun is returned by Join when the run has no row (no orchestrator
	// created it).
	ErrNoRun = errors.New("sqlcoord: run not found")
	// ErrLost is wrapped by the error AwaitReady and Collect return when a
	// worker was declared lost under the LostAbort policy.
	ErrLost = errors.New("sqlcoord: worker lost")
	// ErrSeqOverflow is returned by Send when the events table already
	// holds an event of a known kind with the largest seq there is, so no
	// next seq exists (only a hand-written or hostile row can do that).
	ErrSeqOverflow = errors.New("sqlcoord: event seq would overflow")
)

// validRunID checks a run id; field names the option it came from.
func validRunID(field, id string) error {
	if err := coordinate.ValidRunID(id); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, field, err)
	}
	return nil
}

// Tables names the coordinator's three tables in one database: Prefix +
// "runs", Prefix + "workers" and Prefix + "events". Several runs share one
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
	db                  *sql.DB
	d                   dialect.Dialect
	runs, workers, evts string // quoted names
	clockExpr           string
	clockRes            time.Duration
	notifyChannel       string // unquoted, for a Notifier
	q                   queries
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
	s := &schema{db: t.DB, d: t.Dialect, clockExpr: expr, clockRes: res}
	for _, x := range []struct {
		dst  *string
		name string
	}{{&s.runs, "runs"}, {&s.workers, "workers"}, {&s.evts, "events"}} {
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
	return s, nil
}

// queries are the statements, with the dialect's placeholders.
type queries struct {
	insertRun, readRun, startRun, endRun, scaleRun               string
	insertWorker, readyWorker, beat, setState, leave, seen, lost string
	testStart, result, readWorkers, readResults                  string
	insertEvent, readEvents, maxSeq, workerExists                string
}

// build writes the statements. Placeholders are numbered for PostgreSQL and
// "?" elsewhere; every statement takes its arguments in the order written.
func (s *schema) build() queries {
	p := func(sql string) string { // replaces each "?" with the dialect's placeholder
		var b strings.Builder
		n := 0
		for i := 0; i < len(sql); i++ {
			if sql[i] == '?' {
				n++
				b.WriteString(s.d.Placeholder(n))
				continue
			}
			b.WriteByte(sql[i])
		}
		return b.String()
	}
	r, w, e := s.runs, s.workers, s.evts
	return queries{
		insertRun: p(`INSERT INTO ` + r + ` (run_id, status, expected, concurrency, created_ns, published_ns, at_ns, start_seq, reason) VALUES (?, 'WAITING', ?, 0, ?, 0, 0, 0, '')`),
		readRun:   p(`SELECT status, concurrency, published_ns, at_ns, start_seq, reason FROM ` + r + ` WHERE run_id = ?`),
		startRun:  p(`UPDATE ` + r + ` SET status = 'STARTED', published_ns = ?, at_ns = ?, start_seq = ? WHERE run_id = ? AND status = 'WAITING'`),
		endRun:    p(`UPDATE ` + r + ` SET status = ?, reason = ? WHERE run_id = ? AND status = 'WAITING'`),
		scaleRun:  p(`UPDATE ` + r + ` SET concurrency = ? WHERE run_id = ?`),

		insertWorker: p(`INSERT INTO ` + w + ` (run_id, worker_id, state, phase, concurrency, joined_ns, ready_ns, beat_ns, seen_ns, test_start_ns, clock_offset_ns, clock_error_ns) VALUES (?, ?, 'JOINED', ?, ?, ?, 0, ?, 0, 0, ?, ?)`),
		// A worker becomes ready only while the run still waits: one that
		// comes later was not counted by the orchestrator and is late.
		readyWorker: p(`UPDATE ` + w + ` SET state = ?, phase = ?, ready_ns = ?, beat_ns = ? WHERE run_id = ? AND worker_id = ? AND EXISTS (SELECT 1 FROM ` + r + ` WHERE run_id = ? AND status = 'WAITING')`),
		// A heartbeat writes only the beat: the state and phase are written by
		// SetState and Leave, and a beat still in flight must not undo them.
		beat:         p(`UPDATE ` + w + ` SET beat_ns = ? WHERE run_id = ? AND worker_id = ?`),
		setState:     p(`UPDATE ` + w + ` SET state = ?, phase = ?, beat_ns = ? WHERE run_id = ? AND worker_id = ?`),
		leave:        p(`UPDATE ` + w + ` SET state = ?, phase = ?, beat_ns = ?, err_text = ? WHERE run_id = ? AND worker_id = ?`),
		seen:         p(`UPDATE ` + w + ` SET seen_ns = ? WHERE run_id = ? AND worker_id = ?`),
		lost:         p(`UPDATE ` + w + ` SET state = 'LOST' WHERE run_id = ? AND worker_id = ? AND state NOT IN ('DONE', 'FAILED', 'LOST')`),
		testStart:    p(`UPDATE ` + w + ` SET test_start_ns = ? WHERE run_id = ? AND worker_id = ?`),
		result:       p(`UPDATE ` + w + ` SET result_json = ? WHERE run_id = ? AND worker_id = ?`),
		readWorkers:  p(`SELECT worker_id, state, phase, concurrency, ready_ns, beat_ns, seen_ns, clock_offset_ns, clock_error_ns, err_text FROM ` + w + ` WHERE run_id = ? ORDER BY worker_id`),
		readResults:  p(`SELECT worker_id, result_json FROM ` + w + ` WHERE run_id = ? ORDER BY worker_id`),
		workerExists: p(`SELECT COUNT(*) FROM ` + w + ` WHERE run_id = ? AND worker_id = ?`),

		insertEvent: p(`INSERT INTO ` + e + ` (run_id, seq, kind, concurrency, reason, created_ns) VALUES (?, ?, ?, ?, ?, ?)`),
		readEvents:  p(`SELECT seq, kind, concurrency, reason FROM ` + e + ` WHERE run_id = ? AND seq > ? ORDER BY seq`),
		// Highest first, the known kinds only (see schema.maxSeq); rows
		// whose seq is not an integer (SQLite sorts text above numbers)
		// are read and passed over.
		maxSeq: p(`SELECT seq FROM ` + e + ` WHERE run_id = ? AND kind IN ('stop', 'abort', 'scale') ORDER BY seq DESC`),
	}
}

// types returns the column types of the dialect: a short key string, a
// long text (a result's JSON may be megabytes) and a 64-bit integer.
func (s *schema) types() (key, long, big string) {
	switch s.d.Name() {
	case "mysql":
		return "VARCHAR(128)", "LONGTEXT", "BIGINT"
	case "snowflake":
		return "VARCHAR(128)", "VARCHAR", "NUMBER(19,0)"
	}
	return "VARCHAR(128)", "TEXT", "BIGINT"
}

// Create creates the tables if they do not exist. It is idempotent and safe
// to call from many processes at once.
func (t Tables) Create(ctx context.Context) error {
	s, err := t.compile()
	if err != nil {
		return err
	}
	return s.create(ctx)
}

func (s *schema) create(ctx context.Context) error {
	key, long, big := s.types()
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + s.runs + ` (run_id ` + key + ` NOT NULL, status ` + key + ` NOT NULL, expected ` + big + ` NOT NULL, concurrency ` + big + ` NOT NULL,` +
			` created_ns ` + big + ` NOT NULL, published_ns ` + big + ` NOT NULL, at_ns ` + big + ` NOT NULL, start_seq ` + big + ` NOT NULL, reason ` + long + `, PRIMARY KEY (run_id))`,
		`CREATE TABLE IF NOT EXISTS ` + s.workers + ` (run_id ` + key + ` NOT NULL, worker_id ` + key + ` NOT NULL, state ` + key + ` NOT NULL, phase ` + key + ` NOT NULL,` +
			` concurrency ` + big + ` NOT NULL, joined_ns ` + big + ` NOT NULL, ready_ns ` + big + ` NOT NULL, beat_ns ` + big + ` NOT NULL, seen_ns ` + big + ` NOT NULL,` +
			` test_start_ns ` + big + ` NOT NULL, clock_offset_ns ` + big + ` NOT NULL, clock_error_ns ` + big + ` NOT NULL, err_text ` + long + `, result_json ` + long + `, PRIMARY KEY (run_id, worker_id))`,
		`CREATE TABLE IF NOT EXISTS ` + s.evts + ` (run_id ` + key + ` NOT NULL, seq ` + big + ` NOT NULL, kind ` + key + ` NOT NULL, concurrency ` + big + `,` +
			` reason ` + long + `, created_ns ` + big + ` NOT NULL, PRIMARY KEY (run_id, seq))`,
	}
	for _, q := range stmts {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlcoord: creating tables: %w", err)
		}
	}
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
	for _, name := range []string{s.evts, s.workers, s.runs} {
		if _, err := s.db.ExecContext(ctx, `DROP TABLE IF EXISTS `+name); err != nil {
			errs = append(errs, fmt.Errorf("sqlcoord: dropping %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// clockSample is one reading of the database clock.
type clockSample struct {
	offset, rtt time.Duration
}

// measureClock reads the database clock n times and keeps the reading with
// the shortest round trip: offset = local midpoint - database time, with
// error bound rtt/2 plus the database clock's resolution. The bound holds
// whatever the asymmetry of the two directions of the round trip.
func (s *schema) measureClock(ctx context.Context, n int) (offset, bound time.Duration, err error) {
	best := clockSample{rtt: -1}
	q := `SELECT ` + s.clockExpr
	for range n {
		var micros int64
		t0 := time.Now()
		if err := s.db.QueryRowContext(ctx, q).Scan(&micros); err != nil {
			return 0, 0, fmt.Errorf("sqlcoord: reading the database clock: %w", err)
		}
		t1 := time.Now()
		rtt := t1.Sub(t0) // monotonic
		mid := t0.Add(rtt / 2)
		if best.rtt < 0 || rtt < best.rtt {
			best = clockSample{offset: mid.Sub(time.UnixMicro(micros)), rtt: rtt}
		}
	}
	return best.offset, best.rtt/2 + s.clockRes, nil
}
