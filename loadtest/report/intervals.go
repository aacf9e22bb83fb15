package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/startline/startline/loadtest"
)

// csvHeader names the columns of WriteIntervalsCSV. Durations are integer
// nanoseconds, as in the JSON result.
var csvHeader = []string{
	"run_id", "node", "start_ns", "duration_ns", "phase", "operation",
	"ops", "errors", "throughput_per_s",
	"min_ns", "mean_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns",
	"late", "dropped",
	"offered_per_s", "backlog_start", "backlog_end", "overloaded",
}

// WriteIntervalsCSV writes res's intervals as CSV with a header line: one
// row per interval with an empty operation column for all operations
// together, then one row per operation (by name) in that interval, so that a
// spreadsheet or a data frame can filter on the column. Throughput per
// operation is successful operations per second of the interval. The last
// four columns are an arrival-rate run's Load (empty otherwise): the rate
// offered, the backlog at the interval's start and end, and whether it was
// overloaded.
func WriteIntervalsCSV(w io.Writer, res *loadtest.Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	f64 := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	row := make([]string, 0, len(csvHeader))
	for _, iv := range res.Intervals {
		put := func(op string, ops, errs int64, tput float64, l loadtest.Latency, late, dropped string, ld *loadtest.Load) error {
			row = append(row[:0], res.RunID, res.Node, i64(int64(iv.Start)), i64(int64(iv.Duration)),
				string(iv.Phase), op, i64(ops), i64(errs), f64(tput),
				i64(int64(l.Min)), i64(int64(l.Mean)), i64(int64(l.P50)), i64(int64(l.P90)),
				i64(int64(l.P99)), i64(int64(l.P999)), i64(int64(l.Max)), late, dropped)
			if ld != nil {
				row = append(row, f64(ld.OfferedPerS), i64(ld.BacklogStart), i64(ld.BacklogEnd), strconv.FormatBool(ld.Overloaded))
			} else {
				row = append(row, "", "", "", "")
			}
			return cw.Write(row)
		}
		if err := put("", iv.Ops, iv.Errors, iv.Throughput, iv.Latency, i64(iv.Late), i64(iv.Dropped), iv.Load); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		for _, name := range slices.Sorted(maps.Keys(iv.Operations)) {
			op := iv.Operations[name]
			tput := 0.0
			if iv.Duration > 0 {
				tput = float64(op.Ops-op.Errors) / iv.Duration.Seconds()
			}
			if err := put(name, op.Ops, op.Errors, tput, op.Latency, "", "", op.Load); err != nil {
				return fmt.Errorf("report: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// intervalLine is one line of WriteIntervalsJSONL.
type intervalLine struct {
	RunID string `json:"run_id"`
	Node  string `json:"node"`
	loadtest.Interval
}

// WriteIntervalsJSONL writes res's intervals as JSON lines: one object per
// interval, in the JSON form of loadtest.Interval with the run_id and node
// added, so that lines from many results can be concatenated.
func WriteIntervalsJSONL(w io.Writer, res *loadtest.Result) error {
	enc := json.NewEncoder(w)
	for _, iv := range res.Intervals {
		if err := enc.Encode(intervalLine{RunID: res.RunID, Node: res.Node, Interval: iv}); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	return nil
}
