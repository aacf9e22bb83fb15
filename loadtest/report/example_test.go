package report_test

import (
	"os"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/report"
	"github.com/startline/startline/timing"
)

// The intervals of a result as CSV, for a spreadsheet: one row for all
// operations (operation empty) and one per operation.
func ExampleWriteIntervalsCSV() {
	res := &loadtest.Result{RunID: "r1", Node: "host-1", Intervals: []loadtest.Interval{{
		Start: time.Second, Duration: time.Second, Phase: timing.Measure,
		Ops: 120, Errors: 2, Throughput: 118,
		Latency:    loadtest.Latency{P50: 2 * time.Millisecond, P99: 9 * time.Millisecond},
		Operations: map[string]loadtest.IntervalOp{"select": {Ops: 120, Errors: 2}},
	}}}
	_ = report.WriteIntervalsCSV(os.Stdout, res)
	// Output:
	// run_id,node,start_ns,duration_ns,phase,operation,ops,errors,throughput_per_s,min_ns,mean_ns,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,late,dropped
	// r1,host-1,1000000000,1000000000,measure,,120,2,118,0,0,2000000,0,9000000,0,0,0,0
	// r1,host-1,1000000000,1000000000,measure,select,120,2,118,0,0,0,0,0,0,0,,
}
