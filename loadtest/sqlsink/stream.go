package sqlsink

import (
	"context"
	"fmt"

	"github.com/startline/startline/loadtest"
)

var (
	_ loadtest.StreamStore  = (*Sink)(nil)
	_ loadtest.StreamSource = (*Sink)(nil)
)

// PutRecord implements loadtest.StreamStore: it inserts one streamed
// interval into the stream table, outside the transactions of Write, so
// that a node's stream never waits for a result being written. A record
// already there (the same run, node and seq) is left as it is.
func (s *Sink) PutRecord(ctx context.Context, runID, node string, seq int64, record []byte) error {
	if err := s.CreateSchema(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	err := retryConflicts(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.t.putRecord, runID, seq, node, string(record))
		return err
	})
	if err != nil && s.hasRecord(ctx, runID, node, seq) {
		return nil // stored by an earlier attempt whose answer was lost
	}
	if err != nil {
		return fmt.Errorf("sqlsink: streaming interval %d of run %q on %q: %w", seq, runID, node, err)
	}
	return nil
}

// hasRecord reports whether the stream table holds (runID, node, seq).
func (s *Sink) hasRecord(ctx context.Context, runID, node string, seq int64) bool {
	var n int
	err := s.db.QueryRowContext(ctx, s.t.countRecord, runID, seq, node).Scan(&n)
	return err == nil && n > 0
}

// Records implements loadtest.StreamSource: the records of run runID
// whose seq is at least from, as PutRecord stored them.
func (s *Sink) Records(ctx context.Context, runID string, from int64) ([][]byte, error) {
	if err := s.CreateSchema(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.t.selectRecords, runID, from)
	if err != nil {
		return nil, fmt.Errorf("sqlsink: reading the stream of run %q: %w", runID, err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var rec string
		if err := rows.Scan(&rec); err != nil {
			return nil, fmt.Errorf("sqlsink: reading the stream of run %q: %w", runID, err)
		}
		out = append(out, []byte(rec))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlsink: reading the stream of run %q: %w", runID, err)
	}
	return out, nil
}
