package sqlsink

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/timing"
)

// The status column of test_results.
const (
	StatusStarted = "started" // TestStart was recorded; no result yet
	StatusDone    = "done"    // the result was written
	StatusFailed  = "failed"  // the result was written, and the run failed
)

// Table names, after the prefix.
const (
	TestResults = "test_results"
	Intervals   = "intervals"
	Timeline    = "timeline"
	Histograms  = "histograms"
)

// The column types, by kind.
type kind int

const (
	kRunID kind = iota // run ids (at most 64 bytes), statuses, window phases
	kName              // node, operation and phase names
	kText              // unbounded text: JSON, errors
	kInt               // 64-bit integers
	kFloat
	kTime
)

func colType(d dialect.Dialect, k kind) string {
	switch k {
	case kRunID:
		return "VARCHAR(64) NOT NULL"
	case kName:
		return "VARCHAR(255) NOT NULL"
	case kInt:
		return "BIGINT NOT NULL"
	case kText:
		if d == dialect.MySQL {
			return "LONGTEXT"
		}
		if d == dialect.Snowflake {
			return "VARCHAR"
		}
		return "TEXT"
	case kFloat:
		switch d {
		case dialect.Postgres:
			return "DOUBLE PRECISION"
		case dialect.MySQL:
			return "DOUBLE"
		case dialect.Snowflake:
			return "FLOAT"
		}
		return "REAL"
	}
	switch d { // kTime
	case dialect.Postgres:
		return "TIMESTAMPTZ"
	case dialect.MySQL:
		return "DATETIME(6)"
	case dialect.Snowflake:
		return "TIMESTAMP_TZ"
	}
	return "TEXT" // SQLite: RFC 3339
}

type column struct {
	name string
	kind kind
}

// table is one table: its quoted name, columns and key.
type table struct {
	name string // quoted
	cols []column
	key  []string
	// insertCols is the quoted column list for INSERT.
	insertCols string
}

// insert returns the INSERT of n rows.
func (t table) insert(d dialect.Dialect, n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(t.name)
	b.WriteString(" (")
	b.WriteString(t.insertCols)
	b.WriteString(") VALUES ")
	p := 1
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range t.cols {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(d.Placeholder(p))
			p++
		}
		b.WriteByte(')')
	}
	return b.String()
}

type tables struct {
	results, intervals, timeline, histograms table
	ddl                                      []string
	deletes                                  []string // by run_id and node, one per table
	deleteResult                             string
	selectHists                              string
}

func (t *tables) all() []table { return []table{t.results, t.intervals, t.timeline, t.histograms} }

var schema = map[string]struct {
	cols []column
	key  []string
}{
	TestResults: {cols: []column{
		{"run_id", kRunID}, {"node", kName}, {"status", kRunID},
		{"started_at", kTime}, {"anchor_unix_ns", kInt},
		{"clock_offset_ns", kInt}, {"clock_error_ns", kInt},
		{"workers", kInt}, {"conns", kInt}, {"warmup_ns", kInt}, {"duration_ns", kInt},
		{"config", kText},
		{"warmup_ops", kInt}, {"warmup_errors", kInt}, {"warmup_throughput", kFloat},
		{"warmup_p50_ns", kInt}, {"warmup_p99_ns", kInt},
		{"measure_ops", kInt}, {"measure_errors", kInt}, {"measure_throughput", kFloat},
		{"measure_p50_ns", kInt}, {"measure_p90_ns", kInt}, {"measure_p99_ns", kInt},
		{"measure_p999_ns", kInt}, {"measure_max_ns", kInt},
		{"thresholds", kText}, {"thresholds_failed", kInt},
		{"stopped", kText}, {"error", kText}, {"result_json", kText},
	}, key: []string{"run_id", "node"}},
	Intervals: {cols: []column{
		{"run_id", kRunID}, {"node", kName}, {"seq", kInt}, {"operation", kName},
		{"start_ns", kInt}, {"duration_ns", kInt}, {"phase", kRunID},
		{"ops", kInt}, {"errors", kInt}, {"throughput", kFloat},
		{"p50_ns", kInt}, {"p90_ns", kInt}, {"p99_ns", kInt}, {"p999_ns", kInt}, {"max_ns", kInt},
		{"late", kInt}, {"dropped", kInt},
	}, key: []string{"run_id", "node", "seq", "operation"}},
	Timeline: {cols: []column{
		{"run_id", kRunID}, {"node", kName}, {"seq", kInt},
		{"mark_node", kName}, {"phase", kName}, {"worker", kInt},
		{"start_ns", kInt}, {"end_ns", kInt}, {"duration_ns", kInt},
		{"error", kText}, {"detail", kText},
	}, key: []string{"run_id", "node", "seq"}},
	Histograms: {cols: []column{
		{"run_id", kRunID}, {"node", kName}, {"phase", kRunID}, {"operation", kName},
		{"latencies", kInt}, {"histogram", kText},
	}, key: []string{"run_id", "node", "phase", "operation"}},
}

// newTables validates prefix and builds the tables' statements.
func newTables(d dialect.Dialect, prefix string) (tables, error) {
	var t tables
	build := func(name string) (table, error) {
		full := prefix + name
		q, err := d.Ident(full)
		if err != nil {
			return table{}, fmt.Errorf("sqlsink: prefix %q: %w", prefix, err)
		}
		sc := schema[name]
		tb := table{name: q, cols: sc.cols, key: sc.key}
		var cols, ddl []string
		for _, c := range sc.cols {
			qc, err := d.Ident(c.name)
			if err != nil {
				return table{}, err
			}
			cols = append(cols, qc)
			ddl = append(ddl, qc+" "+colType(d, c.kind))
		}
		var key []string
		for _, k := range sc.key {
			qk, _ := d.Ident(k)
			key = append(key, qk)
		}
		tb.insertCols = strings.Join(cols, ", ")
		t.ddl = append(t.ddl, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s, PRIMARY KEY (%s))",
			q, strings.Join(ddl, ", "), strings.Join(key, ", ")))
		t.deletes = append(t.deletes, fmt.Sprintf("DELETE FROM %s WHERE %s = %s AND %s = %s",
			q, key[0], d.Placeholder(1), key[1], d.Placeholder(2)))
		return tb, nil
	}
	var err error
	if t.results, err = build(TestResults); err != nil {
		return t, err
	}
	t.deleteResult = t.deletes[0]
	if t.intervals, err = build(Intervals); err != nil {
		return t, err
	}
	if t.timeline, err = build(Timeline); err != nil {
		return t, err
	}
	if t.histograms, err = build(Histograms); err != nil {
		return t, err
	}
	id := func(s string) string { q, _ := d.Ident(s); return q }
	t.selectHists = fmt.Sprintf("SELECT %s FROM %s WHERE %s = %s AND %s = %s AND %s = %s",
		id("histogram"), t.histograms.name, id("run_id"), d.Placeholder(1),
		id("phase"), d.Placeholder(2), id("operation"), d.Placeholder(3))
	return t, nil
}

// timeArg is a timestamp as the dialect takes it: SQLite and Snowflake get
// RFC 3339 text, which they store or convert without loss.
func (s *Sink) timeArg(t time.Time) any {
	if s.d == dialect.SQLite || s.d == dialect.Snowflake {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return t.UTC()
}

// nullText is NULL for "".
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Sink) resultRow(res *loadtest.Result, status string) []any {
	cfg, _ := json.Marshal(res.Config) // plain data: cannot fail
	var thresholds any
	if len(res.Thresholds) > 0 {
		b, _ := json.Marshal(res.Thresholds)
		thresholds = string(b)
	}
	w, m := res.Phases.Warmup, res.Phases.Measure
	return []any{
		res.RunID, res.Node, status,
		s.timeArg(res.StartedAt), res.StartedAt.UnixNano(),
		int64(res.Timeline.ClockOffset), int64(res.Timeline.ClockError),
		res.Config.Workers, res.Config.Conns, int64(res.Config.Warmup), int64(res.Config.Duration),
		string(cfg),
		w.Ops, w.Errors, w.Throughput, int64(w.Latency.P50), int64(w.Latency.P99),
		m.Ops, m.Errors, m.Throughput, int64(m.Latency.P50), int64(m.Latency.P90), int64(m.Latency.P99),
		int64(m.Latency.P999), int64(m.Latency.Max),
		thresholds, int64(len(res.FailedThresholds())),
		nullText(res.Stopped), nullText(res.Error), resultDoc(res, status),
	}
}

func timelineRows(res *loadtest.Result) [][]any {
	rows := make([][]any, len(res.Timeline.Marks))
	for i, mk := range res.Timeline.Marks {
		rows[i] = []any{res.RunID, res.Node, i, mk.Node, string(mk.Phase), mk.Worker,
			int64(mk.Start), int64(mk.End), int64(mk.Duration()), nullText(mk.Err), nullText(mk.Detail)}
	}
	return rows
}

func intervalRows(res *loadtest.Result) [][]any {
	var rows [][]any
	for i, iv := range res.Intervals {
		row := func(op string, ops, errs int64, tput float64, l loadtest.Latency, late, dropped int64) []any {
			return []any{res.RunID, res.Node, i, op, int64(iv.Start), int64(iv.Duration), string(iv.Phase),
				ops, errs, tput, int64(l.P50), int64(l.P90), int64(l.P99), int64(l.P999), int64(l.Max), late, dropped}
		}
		rows = append(rows, row("", iv.Ops, iv.Errors, iv.Throughput, iv.Latency, iv.Late, iv.Dropped))
		for _, name := range sortedOps(iv.Operations) {
			op := iv.Operations[name]
			tput := 0.0
			if iv.Duration > 0 {
				tput = float64(op.Ops-op.Errors) / iv.Duration.Seconds()
			}
			rows = append(rows, row(name, op.Ops, op.Errors, tput, op.Latency, 0, 0))
		}
	}
	return rows
}

// histogramRows encodes the histogram of each phase, for all operations
// (operation ”) and per operation.
func histogramRows(res *loadtest.Result) ([][]any, error) {
	var rows [][]any
	add := func(phase timing.Phase, op string, st loadtest.Stats) error {
		if st.Histogram == nil {
			return nil
		}
		b, err := st.Histogram.MarshalJSON()
		if err != nil {
			return err
		}
		var enc string
		if err := json.Unmarshal(b, &enc); err != nil {
			return err
		}
		rows = append(rows, []any{res.RunID, res.Node, string(phase), op, st.Histogram.Count(), enc})
		return nil
	}
	if err := add(timing.Warmup, "", res.Phases.Warmup); err != nil {
		return nil, err
	}
	if err := add(timing.Measure, "", res.Phases.Measure); err != nil {
		return nil, err
	}
	for _, name := range sortedOps(res.WarmupOperations) {
		if err := add(timing.Warmup, name, res.WarmupOperations[name]); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedOps(res.Operations) {
		if err := add(timing.Measure, name, res.Operations[name]); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// ErrNoHistogram is returned by MergedHistogram when no row matches.
var ErrNoHistogram = errors.New("sqlsink: no histogram")

// MergedHistogram reads the histograms of one run's phase (timing.Warmup or
// timing.Measure) and operation ("" for all operations) written by every
// node, and merges them: the percentiles of the result are those of all
// the latencies together, exactly as if one process had measured them.
func MergedHistogram(ctx context.Context, db *sql.DB, d dialect.Dialect, prefix, runID string, phase timing.Phase, operation string) (*loadtest.Histogram, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	t, err := newTables(d, prefix)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, t.selectHists, runID, string(phase), operation)
	if err != nil {
		return nil, fmt.Errorf("sqlsink: reading histograms: %w", err)
	}
	defer rows.Close()
	var merged *loadtest.Histogram
	for rows.Next() {
		var enc string
		if err := rows.Scan(&enc); err != nil {
			return nil, fmt.Errorf("sqlsink: reading histograms: %w", err)
		}
		b, _ := json.Marshal(enc)
		h := new(loadtest.Histogram)
		if err := h.UnmarshalJSON(b); err != nil {
			return nil, fmt.Errorf("sqlsink: run %q phase %s operation %q: %w", runID, phase, operation, err)
		}
		if merged == nil {
			merged = h
		} else {
			merged.Merge(h)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlsink: reading histograms: %w", err)
	}
	if merged == nil {
		return nil, fmt.Errorf("%w for run %q phase %s operation %q", ErrNoHistogram, runID, phase, operation)
	}
	return merged, nil
}
