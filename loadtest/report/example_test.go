package report_test

import (
	"fmt"
	"os"
	"strings"
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
	// run_id,node,start_ns,duration_ns,phase,operation,ops,errors,throughput_per_s,min_ns,mean_ns,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,late,dropped,offered_per_s,backlog_start,backlog_end,overloaded
	// r1,host-1,1000000000,1000000000,measure,,120,2,118,0,0,2000000,0,9000000,0,0,0,0,,,,
	// r1,host-1,1000000000,1000000000,measure,select,120,2,118,0,0,0,0,0,0,0,,,,,,
}

// The fleet view of a merged result alone, for a page that embeds it: one
// waterfall row per phase whatever the number of nodes, and each node in
// a collapsed <details>.
func ExampleWriteFleetHTML() {
	anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	node := func(name string, initEnd time.Duration) *loadtest.Result {
		return &loadtest.Result{RunID: "r", Node: name, StartedAt: anchor, Timeline: timing.Timeline{Node: name, Anchor: anchor, Marks: []timing.Mark{
			{Phase: timing.PoolInit, Worker: timing.Process, Start: 0, End: initEnd},
			{Phase: timing.CoordStart, Worker: timing.Process, Start: 50 * time.Millisecond, End: 50 * time.Millisecond},
			{Phase: timing.QueryFirst, Worker: 0, Start: 51 * time.Millisecond, End: 52 * time.Millisecond},
		}}}
	}
	merged, _ := loadtest.Merge(node("a", 10*time.Millisecond), node("b", 40*time.Millisecond), node("c", 20*time.Millisecond))
	var b strings.Builder
	_ = report.WriteFleetHTML(&b, merged)
	fmt.Println(strings.Count(b.String(), `<details class="node">`), "nodes in details")
	fmt.Println(strings.Contains(b.String(), ">max 40ms on b, critical<"))
	// Output:
	// 3 nodes in details
	// true
}
