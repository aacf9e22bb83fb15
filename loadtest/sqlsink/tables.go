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
	// Stream holds the intervals the nodes stream as they close (see
	// Sink.PutRecord): one row per node and interval.
	Stream = "stream"
)

// column is one column: its name, its portable type (the dialect spells
// it) and whether it may be NULL.
type column struct {
	name    string
	typ     dialect.Column
	notNull bool
}

// The columns by kind: keys, names and counts are never NULL; text,
// floats and times may be.
func idCol(name string) column    { return column{name, dialect.ColID, true} }
func nameCol(name string) column  { return column{name, dialect.ColName, true} }
func intCol(name string) column   { return column{name, dialect.ColInt, true} }
func textCol(name string) column  { return column{name, dialect.ColText, false} }
func floatCol(name string) column { return column{name, dialect.ColFloat, false} }
func timeCol(name string) column  { return column{name, dialect.ColTime, false} }

// ddl is the column's definition in d.
func (c column) ddl(d dialect.Dialect, quoted string) string {
	def := quoted + " " + d.Type(c.typ)
	if c.notNull {
		def += " NOT NULL"
	}
	return def
}

// table is one table: its quoted name, columns and key.
type table struct {
	name string // quoted
	cols []column
	key  []string
	// insertCols is the quoted column list for INSERT.
	insertCols string
}

// insert returns the INSERT of n rows, with the dialect's placeholders.
func (t table) insert(d dialect.Dialect, n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", len(t.cols)), ",") + ")"
	rows := strings.TrimSuffix(strings.Repeat(row+",", n), ",")
	return d.Rebind("INSERT INTO " + t.name + " (" + t.insertCols + ") VALUES " + rows)
}

type tables struct {
	results, intervals, timeline, histograms table
	stream                                   table
	putRecord, selectRecords, countRecord    string
	ddl                                      []string
	deletes                                  []string // by run_id and node, one per table
	deleteResult                             string
	selectHists                              string
}

func (t *tables) all() []table {
	return []table{t.results, t.intervals, t.timeline, t.histograms, t.stream}
}

var schema = map[string]struct {
	cols []column
	key  []string
}{
	TestResults: {cols: []column{
		idCol("run_id"), nameCol("node"), idCol("status"),
		timeCol("started_at"), intCol("anchor_unix_ns"),
		intCol("clock_offset_ns"), intCol("clock_error_ns"),
		intCol("workers"), intCol("conns"), intCol("warmup_ns"), intCol("duration_ns"),
		textCol("config"),
		intCol("warmup_ops"), intCol("warmup_errors"), floatCol("warmup_throughput"),
		intCol("warmup_p50_ns"), intCol("warmup_p99_ns"),
		intCol("measure_ops"), intCol("measure_errors"), floatCol("measure_throughput"),
		intCol("measure_p50_ns"), intCol("measure_p90_ns"), intCol("measure_p99_ns"),
		intCol("measure_p999_ns"), intCol("measure_max_ns"),
		textCol("thresholds"), intCol("thresholds_failed"),
		textCol("stopped"), textCol("error"), textCol("result_json"),
	}, key: []string{"run_id", "node"}},
	Intervals: {cols: []column{
		idCol("run_id"), nameCol("node"), intCol("seq"), nameCol("operation"),
		intCol("start_ns"), intCol("duration_ns"), idCol("phase"),
		intCol("ops"), intCol("errors"), floatCol("throughput"),
		intCol("p50_ns"), intCol("p90_ns"), intCol("p99_ns"), intCol("p999_ns"), intCol("max_ns"),
		intCol("late"), intCol("dropped"),
	}, key: []string{"run_id", "node", "seq", "operation"}},
	Timeline: {cols: []column{
		idCol("run_id"), nameCol("node"), intCol("seq"),
		nameCol("mark_node"), nameCol("phase"), intCol("worker"),
		intCol("start_ns"), intCol("end_ns"), intCol("duration_ns"),
		textCol("error"), textCol("detail"),
	}, key: []string{"run_id", "node", "seq"}},
	Histograms: {cols: []column{
		idCol("run_id"), nameCol("node"), idCol("phase"), nameCol("operation"),
		intCol("latencies"), textCol("histogram"),
	}, key: []string{"run_id", "node", "phase", "operation"}},
	// Keyed by seq before node, so that reading a run's records from a
	// seq on is a range of the key.
	Stream: {cols: []column{
		idCol("run_id"), intCol("seq"), nameCol("node"), textCol("record"),
	}, key: []string{"run_id", "seq", "node"}},
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
			ddl = append(ddl, c.ddl(d, qc))
		}
		var key []string
		for _, k := range sc.key {
			qk, _ := d.Ident(k)
			key = append(key, qk)
		}
		tb.insertCols = strings.Join(cols, ", ")
		t.ddl = append(t.ddl, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s, PRIMARY KEY (%s))",
			q, strings.Join(ddl, ", "), strings.Join(key, ", ")))
		t.deletes = append(t.deletes, d.Rebind("DELETE FROM "+q+" WHERE "+key[0]+" = ? AND "+key[1]+" = ?"))
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
	if t.stream, err = build(Stream); err != nil {
		return t, err
	}
	// A node's result replaces its rows in the other tables; its stream
	// stays as it was streamed.
	t.deletes = t.deletes[:len(t.deletes)-1]
	q := func(s string) string { q, _ := d.Ident(s); return q }
	t.putRecord = t.stream.insert(d, 1)
	t.selectRecords = d.Rebind("SELECT " + q("record") + " FROM " + t.stream.name +
		" WHERE " + q("run_id") + " = ? AND " + q("seq") + " >= ?")
	t.countRecord = d.Rebind("SELECT COUNT(*) FROM " + t.stream.name +
		" WHERE " + q("run_id") + " = ? AND " + q("seq") + " = ? AND " + q("node") + " = ?")
	t.selectHists = d.Rebind("SELECT " + q("histogram") + " FROM " + t.histograms.name +
		" WHERE " + q("run_id") + " = ? AND " + q("phase") + " = ? AND " + q("operation") + " = ?")
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
