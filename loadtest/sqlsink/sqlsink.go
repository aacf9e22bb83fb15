package sqlsink

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/dialect"
)

// Defaults for the zero values of Options.
const (
	DefaultPrefix    = "startline_"
	DefaultBatchRows = 500
	DefaultTimeout   = 30 * time.Second
)

// maxParams bounds the parameters of one INSERT: SQLite allows 32766,
// PostgreSQL and MySQL 65535.
const maxParams = 32000

// ErrSpilled is wrapped by every [*SpillError].
var ErrSpilled = errors.New("sqlsink: result not written to the database; saved to a file")

// SpillError reports a result that could not be written to the database
// and was saved to the file at Path instead. Load it with [LoadFile].
type SpillError struct {
	Path string
	Err  error // why the database was not written
}

// Error names the file and the database's error.
func (e *SpillError) Error() string {
	return fmt.Sprintf("sqlsink: result not written to the database (%v); saved to %s: load it with sqlsink.LoadFile or examples/loadresults", e.Err, e.Path)
}

// Unwrap returns [ErrSpilled] and the database's error.
func (e *SpillError) Unwrap() []error { return []error{ErrSpilled, e.Err} }

// Options configure a Sink. The zero value works.
type Options struct {
	// Prefix starts every table's name: "startline_" by default. Prefix plus
	// a table name must be a valid identifier (see dialect.ValidIdent); it
	// may name a schema, as in "results.lt_".
	Prefix string
	// SpillDir is where results that cannot be written are saved. Default:
	// os.TempDir().
	SpillDir string
	// BatchRows is the most rows one INSERT carries. Default:
	// DefaultBatchRows (fewer when the columns would pass the databases'
	// parameter limits).
	BatchRows int
	// Timeout bounds one TestStart or Write, so that a database that hangs
	// does not hold the result: past it, Write saves the result to a file.
	// Default: DefaultTimeout.
	Timeout time.Duration
}

// Sink writes results to a SQL database. Its methods may be called
// concurrently, by Runners that share it: their transactions take turns
// (see inTx).
type Sink struct {
	db   *sql.DB
	d    dialect.Dialect
	opts Options
	t    tables
	turn chan struct{} // held by the transaction in progress

	mu     sync.Mutex
	schema bool // the tables are known to exist
}

// New returns a sink writing to db in dialect d. It checks the options and
// builds the statements; it does not touch the database.
func New(db *sql.DB, d dialect.Dialect, opts Options) (*Sink, error) {
	if db == nil {
		return nil, errors.New("sqlsink: nil *sql.DB")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.SpillDir == "" {
		opts.SpillDir = os.TempDir()
	}
	if opts.BatchRows < 0 || opts.Timeout < 0 {
		return nil, fmt.Errorf("sqlsink: Options.BatchRows (%d) and Options.Timeout (%s) must not be negative", opts.BatchRows, opts.Timeout)
	}
	if opts.BatchRows == 0 {
		opts.BatchRows = DefaultBatchRows
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	t, err := newTables(d, opts.Prefix)
	if err != nil {
		return nil, err
	}
	return &Sink{db: db, d: d, opts: opts, t: t, turn: make(chan struct{}, 1)}, nil
}

// CreateSchema creates the tables that do not exist yet. TestStart and
// Write call it on first use; calling it again is harmless.
func (s *Sink) CreateSchema(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.schema {
		return nil
	}
	for _, ddl := range s.t.ddl {
		if _, err := s.db.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("sqlsink: creating tables: %w", err)
		}
	}
	s.schema = true
	return nil
}

// TestStart writes the run's provisional test_results row, with status
// "started". An error is returned as it is: Write writes the whole row
// again, so a failed TestStart loses nothing that Write does not recover.
func (s *Sink) TestStart(ctx context.Context, info loadtest.RunInfo) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if err := s.CreateSchema(ctx); err != nil {
		return err
	}
	res := &loadtest.Result{RunID: info.RunID, Node: info.Node, StartedAt: info.StartedAt, Config: info.Config}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.t.deleteResult, info.RunID, info.Node); err != nil {
			return err
		}
		return s.insert(ctx, tx, s.t.results, [][]any{s.resultRow(res, StatusStarted)})
	})
	if err != nil {
		return fmt.Errorf("sqlsink: recording the test start of run %q on %q: %w", info.RunID, info.Node, err)
	}
	return nil
}

// Write writes res: its test_results row, intervals, marks and histograms,
// in one transaction. When that fails, it saves res to a file in
// Options.SpillDir and returns a [*SpillError] naming the file; if even
// that fails, both errors.
func (s *Sink) Write(ctx context.Context, res *loadtest.Result) error {
	if res == nil {
		return errors.New("sqlsink: nil result")
	}
	wctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	err := s.write(wctx, res)
	cancel()
	if err == nil {
		return nil
	}
	path, serr := spill(s.opts.SpillDir, res)
	if serr != nil {
		return errors.Join(err, fmt.Errorf("sqlsink: saving the result to a file: %w", serr))
	}
	return &SpillError{Path: path, Err: err}
}

// write writes res in one transaction, replacing what its run and node
// already have.
func (s *Sink) write(ctx context.Context, res *loadtest.Result) error {
	if err := s.CreateSchema(ctx); err != nil {
		return err
	}
	status := StatusDone
	if res.Error != "" {
		status = StatusFailed
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range s.t.deletes {
			if _, err := tx.ExecContext(ctx, q, res.RunID, res.Node); err != nil {
				return err
			}
		}
		hists, err := histogramRows(res)
		if err != nil {
			return err
		}
		for _, part := range []struct {
			t    table
			rows [][]any
		}{
			{s.t.results, [][]any{s.resultRow(res, status)}},
			{s.t.timeline, timelineRows(res)},
			{s.t.intervals, intervalRows(res)},
			{s.t.histograms, hists},
		} {
			if err := s.insert(ctx, tx, part.t, part.rows); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlsink: writing the result of run %q on %q: %w", res.RunID, res.Node, err)
	}
	return nil
}

// inTx runs f in a transaction, one transaction of the sink at a time:
// SQLite allows one writer, and MySQL's transactions that delete and then
// insert rows next to each other's deadlock on gap locks. On MySQL the
// transaction is READ COMMITTED, which takes no gap locks, so that sinks
// of other processes writing other nodes do not deadlock with it either.
// Waiting for the turn counts against ctx.
func (s *Sink) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.turn }()
	var opts *sql.TxOptions
	if s.d == dialect.MySQL {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	return retryConflicts(ctx, func() error {
		tx, err := s.db.BeginTx(ctx, opts)
		if err != nil {
			return err
		}
		if err := f(tx); err != nil {
			_ = tx.Rollback() // the error that matters is f's
			return err
		}
		return tx.Commit()
	})
}

// insert inserts rows into t with multi-row INSERTs of at most BatchRows
// rows.
func (s *Sink) insert(ctx context.Context, tx *sql.Tx, t table, rows [][]any) error {
	batch := max(1, min(s.opts.BatchRows, maxParams/len(t.cols)))
	args := make([]any, 0, batch*len(t.cols))
	for len(rows) > 0 {
		n := min(batch, len(rows))
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		if _, err := tx.ExecContext(ctx, t.insert(s.d, n), args...); err != nil {
			return fmt.Errorf("inserting into %s: %w", t.name, err)
		}
		rows = rows[n:]
	}
	return nil
}

// LoadFile loads a result saved by a Sink that could not write it (see
// [SpillError]), or any JSON result file, into the tables with the given
// prefix ("" for DefaultPrefix), creating them if needed. Loading the same
// file again replaces the rows it wrote, without duplicates.
func LoadFile(ctx context.Context, db *sql.DB, d dialect.Dialect, prefix, path string) error {
	res, err := loadtest.ReadResultFile(path)
	if err != nil {
		return fmt.Errorf("sqlsink: %w", err)
	}
	s, err := New(db, d, Options{Prefix: prefix, Timeout: time.Duration(1<<63 - 1)})
	if err != nil {
		return err
	}
	return s.write(ctx, res)
}

// DropTables drops the tables with the given prefix ("" for
// DefaultPrefix), those that exist.
func DropTables(ctx context.Context, db *sql.DB, d dialect.Dialect, prefix string) error {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	t, err := newTables(d, prefix)
	if err != nil {
		return err
	}
	for _, tb := range t.all() {
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+tb.name); err != nil {
			return fmt.Errorf("sqlsink: dropping %s: %w", tb.name, err)
		}
	}
	return nil
}

// spill saves res in dir as a JSON result file and returns its path.
func spill(dir string, res *loadtest.Result) (string, error) {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return "", err
	}
	name := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, res.RunID+"-"+res.Node)
	f, err := os.CreateTemp(dir, "startline-result-"+name+"-*.json")
	if err != nil {
		return "", err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name()) // a partial file would only mislead
		return "", err
	}
	return filepath.Abs(f.Name())
}

// sortedOps returns m's keys in order, for deterministic rows.
func sortedOps[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
