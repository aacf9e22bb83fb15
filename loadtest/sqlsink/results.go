package sqlsink

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/startline/startline/loadtest"
)

var _ loadtest.ResultSource = (*Sink)(nil)

// resultDoc is the whole result as JSON, for the result_json column of
// test_results: NULL in the provisional row of TestStart, so that
// Results does not return a result that is not there yet.
func resultDoc(res *loadtest.Result, status string) any {
	if status == StatusStarted {
		return nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		// A Result of plain data only fails to encode on a NaN or Inf
		// statistic; the columns still hold the rest, and Results reports
		// the node missing rather than a document that is not JSON.
		return nil
	}
	return string(b)
}

// Results implements loadtest.ResultSource: the result each node of nodes
// wrote for run runID, whole, as Write stored it in the result_json column
// of test_results. An orchestrator collects a run's results from it with
// loadtest.Collect, on the same tables its nodes write through this Sink.
func (s *Sink) Results(ctx context.Context, runID string, nodes []string) (map[string][]byte, error) {
	if err := s.CreateSchema(ctx); err != nil {
		return nil, err
	}
	q, err := s.selectResults()
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, q, runID)
	if err != nil {
		return nil, fmt.Errorf("sqlsink: reading the results of run %q: %w", runID, err)
	}
	defer rows.Close()
	want := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		want[n] = true
	}
	out := map[string][]byte{}
	for rows.Next() {
		var node string
		var doc sql.NullString
		if err := rows.Scan(&node, &doc); err != nil {
			return nil, fmt.Errorf("sqlsink: reading the results of run %q: %w", runID, err)
		}
		if want[node] && doc.Valid {
			out[node] = []byte(doc.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlsink: reading the results of run %q: %w", runID, err)
	}
	return out, nil
}

// selectResults is the query of Results.
func (s *Sink) selectResults() (string, error) {
	var cols [3]string
	for i, c := range []string{"node", "result_json", "run_id"} {
		q, err := s.d.Ident(c)
		if err != nil {
			return "", err
		}
		cols[i] = q
	}
	return s.d.Rebind(fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s = ?", cols[0], cols[1], s.t.results.name, cols[2])), nil
}
