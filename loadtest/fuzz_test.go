package loadtest_test

import (
	"context"
	"errors"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/profile"
)

// FuzzParseThreshold parses arbitrary text as a threshold. It must never
// panic; what it accepts has a known metric and operator, and written back
// in canonical form it parses to the same threshold.
func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{
		"p99<50ms", "p50<=1s", "max>=0s", "mean>1µs", "p999<1h",
		"error_rate<0.01", "throughput>1000", "point_select:p99<20ms",
		" op : p90 <= 5ms ", ":p99<1ms", "p99", "p99<", "p99<<1ms", "p99<=>1ms",
		"p99<1e400ms", "throughput>NaN", "error_rate<-Inf", "throughput>0x1p-2",
		"a:b:p99<1ms", "p42<1ms", "p99<-5ms", "\x00:p99<1ms", "é:max<1ns",
		"achieved_ratio>=0.99", "backlog<100", "op:backlog<=0", "achieved_ratio>1ms",
	} {
		f.Add(s)
	}
	metrics := map[string]bool{"p50": true, "p90": true, "p99": true, "p999": true, "max": true, "mean": true,
		"error_rate": true, "throughput": true, "achieved_ratio": true, "backlog": true}
	ops := map[string]bool{"<": true, "<=": true, ">": true, ">=": true}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := loadtest.ParseThreshold(s)
		if err != nil {
			if !strings.Contains(err.Error(), "threshold ") {
				t.Fatalf("error %q does not say it is about a threshold", err)
			}
			return
		}
		if th.Name != s {
			t.Fatalf("Name %q, want the input %q", th.Name, s)
		}
		if !metrics[th.Metric] || !ops[th.Op] {
			t.Fatalf("accepted %q with metric %q op %q", s, th.Metric, th.Op)
		}
		// Canonical form: the limit as a Go duration or a number.
		if math.IsNaN(th.Limit) {
			t.Fatalf("accepted %q with a NaN limit, which no value can hold to", s)
		}
		limit := strconv.FormatFloat(th.Limit, 'g', -1, 64)
		if th.IsLatency() {
			limit = time.Duration(th.Limit).String()
		}
		canon := th.Metric + th.Op + limit
		if th.Operation != "" {
			canon = th.Operation + ":" + canon
		}
		again, err := loadtest.ParseThreshold(canon)
		if err != nil {
			// An operation name holding a metric and an operator cannot be
			// written back unambiguously; that is not the parser's fault.
			if strings.ContainsAny(th.Operation, "<>") {
				return
			}
			t.Fatalf("%q parsed, but its canonical form %q does not: %v", s, canon, err)
		}
		again.Name = th.Name
		if again != th {
			t.Fatalf("%q parsed to %+v, its canonical form %q to %+v", s, th, canon, again)
		}
	})
}

// fieldPath is the form of ConfigError.Field: a Go field path with
// indexes, such as "Workload.Operations[1].Weight".
var fieldPath = regexp.MustCompile(`^[A-Z][A-Za-z]*(\[\d+\])?(\.[A-Z][A-Za-z]*(\[\d+\])?)*$`)

// FuzzNew builds a Config from fuzzed values and gives it to New. New must
// never panic; a Config it rejects gets a *ConfigError that matches
// ErrInvalidConfig and names a field; one it accepts keeps the documented
// invariants (stage durations add up exactly, without wrapping around).
func FuzzNew(f *testing.F) {
	type in struct {
		workers, conns, parallel int
		warmup, duration, drain  int64
		rate                     float64
		arrival                  uint8
		maxInFlight              int
		lateAfter, interval      int64
		runID, opName            string
		weight                   int
		threshold, table, column string
		stage1, stage2           int64
		target                   float64
		steady                   bool
		tolerance                float64
		intervals                int
		steadyMax                int64
	}
	seeds := []in{
		{workers: 4, duration: int64(time.Second), runID: "run-1", opName: "q", weight: 1, threshold: "p99<50ms"},
		{workers: 2, warmup: int64(time.Second), duration: int64(time.Second), opName: "q", weight: 1, rate: 100, arrival: 2, stage1: int64(time.Second), stage2: int64(time.Second), target: 50},
		{workers: 1, duration: int64(time.Second), opName: "q", weight: 1, steady: true, tolerance: 0.1, intervals: 3, steadyMax: int64(time.Minute), interval: int64(time.Second)},
		{workers: 1, duration: math.MaxInt64, warmup: 1, opName: "q", weight: 1, stage1: math.MaxInt64, stage2: math.MaxInt64},
		{workers: -1, duration: -1, opName: "", weight: -1, rate: math.NaN(), arrival: 9, runID: "bad id"},
		{workers: math.MaxInt, duration: 1, opName: "q", weight: 1, rate: math.Inf(1), table: "t;DROP", column: "c c", threshold: "zz:p99<1ms"},
		{workers: 1, duration: 1, opName: "q", weight: 1, table: "app.orders", column: "id", steady: true, intervals: math.MaxInt, interval: int64(time.Hour)},
	}
	for _, s := range seeds {
		f.Add(s.workers, s.conns, s.parallel, s.warmup, s.duration, s.drain, s.rate, s.arrival, s.maxInFlight,
			s.lateAfter, s.interval, s.runID, s.opName, s.weight, s.threshold, s.table, s.column,
			s.stage1, s.stage2, s.target, s.steady, s.tolerance, s.intervals, s.steadyMax)
	}
	noop := func(context.Context, *loadtest.Worker) error { return nil }
	f.Fuzz(func(t *testing.T, workers, conns, parallel int, warmup, duration, drain int64, rate float64, arrival uint8,
		maxInFlight int, lateAfter, interval int64, runID, opName string, weight int, threshold, table, column string,
		stage1, stage2 int64, target float64, steady bool, tolerance float64, intervals int, steadyMax int64) {
		cfg := loadtest.Config{
			RunID: runID, Pool: &memPool{}, Workers: workers, Conns: conns, ConnParallel: parallel,
			Warmup: time.Duration(warmup), Duration: time.Duration(duration), Drain: time.Duration(drain),
			Rate: rate, Arrival: loadtest.Arrival(arrival), MaxInFlight: maxInFlight,
			LateAfter: time.Duration(lateAfter), Interval: time.Duration(interval),
			Workload: loadtest.Workload{Operations: []loadtest.Operation{{Name: opName, Weight: weight, Run: noop}}},
		}
		if threshold != "" {
			cfg.Thresholds = []string{threshold}
		}
		if table != "" {
			cfg.Workload.Tables = []profile.TableSpec{{Table: table, Columns: []string{column}}}
			cfg.Profiler = profile.FileProfiler{Path: "unused.json"}
		}
		if stage1 != 0 || stage2 != 0 {
			cfg.Stages = []loadtest.Stage{{Duration: time.Duration(stage1), Target: target}, {Duration: time.Duration(stage2), Target: target}}
		}
		if steady {
			cfg.Steady = &loadtest.Steady{Tolerance: tolerance, Intervals: intervals, Max: time.Duration(steadyMax)}
		}
		r, err := loadtest.New(cfg)
		if err != nil {
			if r != nil {
				t.Fatalf("New returned a Runner and an error: %v", err)
			}
			if !errors.Is(err, loadtest.ErrInvalidConfig) {
				t.Fatalf("error %v does not match ErrInvalidConfig", err)
			}
			ce, ok := errors.AsType[*loadtest.ConfigError](err)
			if !ok || !fieldPath.MatchString(ce.Field) || ce.Reason == "" {
				t.Fatalf("error %v is not a *ConfigError naming a field", err)
			}
			if !strings.HasPrefix(err.Error(), "loadtest: ") {
				t.Fatalf("error %q is not prefixed with the package", err)
			}
			return
		}
		if len(cfg.Stages) > 0 {
			sum := new(big.Int).Add(big.NewInt(stage1), big.NewInt(stage2))
			want := big.NewInt(duration)
			if !steady {
				want.Add(want, big.NewInt(warmup))
			}
			if sum.Cmp(want) != 0 {
				t.Fatalf("accepted stages of %d+%d ns for a run of %s ns", stage1, stage2, want)
			}
		}
	})
}
