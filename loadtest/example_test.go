package loadtest_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/sqlpool"
	"github.com/startline/startline/profile"
	"github.com/startline/startline/timing"
)

// A load test on an SQLite database: four workers look up random ids from
// the profiled id range of a table. The hooks print the process's phases as
// they end.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite3", filepath.Join(dir, "example.db"))
	if err != nil {
		panic(err)
	}
	_, err = db.Exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1000)
		INSERT INTO items SELECT i, 'item ' || i FROM n`)
	if err != nil {
		panic(err)
	}
	p := sqlpool.New(db, sqlpool.Options{})
	defer p.Close()

	done := func(i loadtest.PhaseDoneInfo) {
		if i.Worker == timing.Process {
			fmt.Println(i.Phase, "done, err:", i.Err)
		}
	}
	r, err := loadtest.New(loadtest.Config{
		Pool:     p,
		Profiler: &profile.SQLProfiler{DB: db, Dialect: dialect.SQLite},
		Workers:  4,
		Warmup:   100 * time.Millisecond,
		Duration: 200 * time.Millisecond,
		Workload: loadtest.Workload{
			Tables: []profile.TableSpec{{Table: "items", Key: "id"}},
			Operations: []loadtest.Operation{
				loadtest.QueryOp("by_id", 1, "SELECT name FROM items WHERE id = ?",
					func(w *loadtest.Worker, args []any) []any {
						return append(args, w.Profile().Table("items").RandomID(w.Rand()))
					}),
			},
		},
		Hooks: loadtest.Hooks{PhaseDone: done},
	})
	if err != nil {
		panic(err)
	}
	res, err := r.Run(context.Background())
	if err != nil {
		panic(err)
	}
	items := res.Operations["by_id"]
	fmt.Println("measured:", items.Ops > 0, "errors:", items.Errors)
	fmt.Println("first queries:", len(res.Timeline.Find(timing.QueryFirst)))
	// Output:
	// pool.init done, err: <nil>
	// setup.profile done, err: <nil>
	// scale.warmup done, err: <nil>
	// warmup done, err: <nil>
	// measure done, err: <nil>
	// teardown done, err: <nil>
	// measured: true errors: 0
	// first queries: 4
}

// Thresholds are written as [operation:]metric op limit.
func ExampleParseThreshold() {
	for _, s := range []string{"p99<50ms", "point_select:error_rate<0.01", "throughput>=1000", "p98<1s"} {
		t, err := loadtest.ParseThreshold(s)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Printf("op=%q metric=%s %s %g\n", t.Operation, t.Metric, t.Op, t.Limit)
	}
	// Output:
	// op="" metric=p99 < 5e+07
	// op="point_select" metric=error_rate < 0.01
	// op="" metric=throughput >= 1000
	// error: threshold "p98<1s": unknown metric "p98" (want p50, p90, p99, p999, max, mean, error_rate, throughput, achieved_ratio or backlog)
}

// A capacity search's text report: the steps by rate, and the capacity.
func ExampleCapacity_WriteText() {
	c := &loadtest.Capacity{
		MaxRate: 375, Knee: 2, FirstFail: 400, Ended: "converged", Elapsed: 29 * time.Second,
		Conditions: []string{"p99<50ms", "achieved_ratio>=0.99"},
		Steps: []loadtest.CapacityStep{
			{Kind: "coarse", Rate: 200, OfferedPerS: 200, ThroughputPerS: 200, AchievedRatio: 1,
				Latency: loadtest.Latency{P50: 10500 * time.Microsecond, P99: 14 * time.Millisecond}, Pass: true},
			{Kind: "coarse", Rate: 400, OfferedPerS: 400, ThroughputPerS: 354, AchievedRatio: 0.885,
				Latency:      loadtest.Latency{P50: 210 * time.Millisecond, P99: 457 * time.Millisecond},
				BacklogStart: 23, BacklogEnd: 160, Overloaded: true,
				Failed: []string{"p99<50ms", "achieved_ratio>=0.99", "overloaded"}},
			{Kind: "bisect", Rate: 375, OfferedPerS: 375, ThroughputPerS: 375, AchievedRatio: 1,
				Latency: loadtest.Latency{P50: 10400 * time.Microsecond, P99: 21 * time.Millisecond}, Pass: true},
		},
	}
	_ = c.WriteText(os.Stdout)
	// Output:
	// offered/s  achieved/s  achieved     p50    p99  errors    backlog                                          verdict
	//       200.0       200.0    100.0%  10.5ms   14ms       0     0 -> 0                                             pass
	//       375.0       375.0    100.0%  10.4ms   21ms       0     0 -> 0                                             pass
	//       400.0       354.0     88.5%   210ms  457ms       0  23 -> 160  FAIL p99<50ms, achieved_ratio>=0.99, overloaded
	// capacity: 375.0/s (the highest rate that passed; 400.0/s failed); conditions: [p99<50ms achieved_ratio>=0.99]; 3 steps in 29s, ended: converged
}

// A capacity search whose steps the caller runs: here a stand-in for a
// fleet that serves at most 300 operations per second (a real step
// function starts every process at the step's rate, together, and returns
// their merged result). The search chooses the rates and judges each step
// on the Result returned.
func ExampleSearchCapacitySteps() {
	run := func(_ context.Context, st loadtest.CapacityStepRun) (*loadtest.Result, error) {
		achieved := min(st.Rate, 300)
		res := &loadtest.Result{RunID: st.RunID}
		res.Phases.Measure = loadtest.Stats{Ops: int64(achieved), Throughput: achieved, Duration: time.Second,
			Latency: loadtest.Latency{P99: 5 * time.Millisecond}}
		res.Phases.Measure.Schedule = &loadtest.Schedule{Load: loadtest.Load{
			Offered: int64(st.Rate), OfferedPerS: st.Rate, AchievedRatio: achieved / st.Rate}}
		return res, nil
	}
	c, err := loadtest.SearchCapacitySteps(context.Background(), "fleet", loadtest.CapacitySearch{
		SLO: []string{"p99<20ms"}, Start: 100, Precision: 0.1,
		OnStep: func(s loadtest.CapacityStep) {
			fmt.Printf("%s %s at %.1f/s: achieved %.1f/s, pass %v\n", s.RunID, s.Kind, s.Rate, s.ThroughputPerS, s.Pass)
		},
	}, run)
	if err != nil {
		panic(err)
	}
	fmt.Printf("capacity %.1f/s, ended: %s\n", c.MaxRate, c.Ended)
	// Output:
	// fleet.step-1 coarse at 100.0/s: achieved 100.0/s, pass true
	// fleet.step-2 coarse at 200.0/s: achieved 200.0/s, pass true
	// fleet.step-3 coarse at 400.0/s: achieved 300.0/s, pass false
	// fleet.step-4 bisect at 300.0/s: achieved 300.0/s, pass true
	// fleet.step-5 bisect at 350.0/s: achieved 300.0/s, pass false
	// fleet.step-6 bisect at 325.0/s: achieved 300.0/s, pass false
	// capacity 300.0/s, ended: converged
}
