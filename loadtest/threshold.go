package loadtest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Threshold is a condition on the measured window, checked when a run
// ends. Written as [operation:]metric op limit, for example "p99<50ms".
type Threshold struct {
	// Name is the threshold as written.
	Name string
	// Operation scopes the threshold to one operation; empty means all.
	Operation string
	// Metric is one of p50, p90, p99, p999, max, mean (latencies, whose
	// limits are durations), error_rate (failed operations / operations,
	// a fraction), throughput (successful operations per second) and, for
	// arrival-rate runs only, achieved_ratio (the throughput over the
	// offered rate: Load.AchievedRatio) and backlog (the operations
	// scheduled and not yet begun at the window's end: Load.BacklogEnd).
	Metric string
	// Op is "<", "<=", ">" or ">=".
	Op string
	// Limit is the bound: nanoseconds for a latency, else as the metric.
	Limit float64
}

// ThresholdResult is a threshold checked against a result.
type ThresholdResult struct {
	Name string `json:"name"`
	// OK is true when the threshold held. A latency or error-rate
	// threshold on a window with no operation does not hold: nothing was
	// measured to hold it.
	OK bool `json:"ok"`
	// Value is the measured value, and Limit the bound, in the metric's
	// unit (nanoseconds for latencies).
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
}

// numberMetrics are the metrics whose limits are plain numbers; the
// arrival-rate ones are true.
var numberMetrics = map[string]bool{"error_rate": false, "throughput": false, "achieved_ratio": true, "backlog": true}

func isNumberMetric(m string) bool { _, ok := numberMetrics[m]; return ok }

// IsLatency reports whether the threshold's metric is a latency, whose
// Limit and measured value are nanoseconds.
func (t Threshold) IsLatency() bool { return latencyMetrics[t.Metric] != nil }

var latencyMetrics = map[string]func(Latency) time.Duration{
	"p50":  func(l Latency) time.Duration { return l.P50 },
	"p90":  func(l Latency) time.Duration { return l.P90 },
	"p99":  func(l Latency) time.Duration { return l.P99 },
	"p999": func(l Latency) time.Duration { return l.P999 },
	"max":  func(l Latency) time.Duration { return l.Max },
	"mean": func(l Latency) time.Duration { return l.Mean },
}

// ParseThreshold parses a threshold such as "p99<50ms", "error_rate<0.01",
// "throughput>1000", "achieved_ratio>=0.99", "backlog<100" or
// "point_select:p99<20ms". It does not check that the operation exists,
// nor that the run is an arrival-rate run when the metric needs one; New
// does.
func ParseThreshold(s string) (Threshold, error) {
	t := Threshold{Name: s}
	expr := strings.TrimSpace(s)
	if op, rest, ok := strings.Cut(expr, ":"); ok {
		t.Operation, expr = strings.TrimSpace(op), rest
		if t.Operation == "" {
			return t, fmt.Errorf("threshold %q: empty operation before ':'", s)
		}
	}
	i := strings.IndexAny(expr, "<>")
	if i < 0 {
		return t, fmt.Errorf("threshold %q: want metric<limit or metric>limit", s)
	}
	t.Metric, t.Op = strings.TrimSpace(expr[:i]), expr[i:i+1]
	rest := expr[i+1:]
	if strings.HasPrefix(rest, "=") {
		t.Op, rest = t.Op+"=", rest[1:]
	}
	rest = strings.TrimSpace(rest)
	switch {
	case latencyMetrics[t.Metric] != nil:
		d, err := time.ParseDuration(rest)
		if err != nil {
			return t, fmt.Errorf("threshold %q: %s limit: want a duration such as 50ms, got %q", s, t.Metric, rest)
		}
		t.Limit = float64(d)
	case isNumberMetric(t.Metric):
		v, err := strconv.ParseFloat(rest, 64)
		// NaN parses, but no value is above or below it: the threshold
		// could never hold.
		if err != nil || math.IsNaN(v) {
			return t, fmt.Errorf("threshold %q: %s limit: want a number, got %q", s, t.Metric, rest)
		}
		t.Limit = v
	default:
		return t, fmt.Errorf("threshold %q: unknown metric %q (want p50, p90, p99, p999, max, mean, error_rate, throughput, achieved_ratio or backlog)", s, t.Metric)
	}
	return t, nil
}

// parseThresholds parses cfg.Thresholds; the error names the field.
func parseThresholds(cfg Config) ([]Threshold, error) {
	var out []Threshold
	for i, s := range cfg.Thresholds {
		field := "Thresholds[" + strconv.Itoa(i) + "]"
		t, err := ParseThreshold(s)
		if err != nil {
			return nil, &ConfigError{Field: field, Reason: err.Error()}
		}
		if t.Operation != "" && !hasOp(cfg.Workload.Operations, t.Operation) {
			return nil, &ConfigError{Field: field, Reason: fmt.Sprintf("threshold %q: no operation named %q", s, t.Operation)}
		}
		if numberMetrics[t.Metric] && !cfg.openLoop() {
			return nil, &ConfigError{Field: field, Reason: fmt.Sprintf("threshold %q: %s applies to arrival-rate runs only: set Rate", s, t.Metric)}
		}
		out = append(out, t)
	}
	return out, nil
}

func hasOp(ops []Operation, name string) bool {
	for _, op := range ops {
		if op.Name == name {
			return true
		}
	}
	return false
}

// Check checks t against the measured window of res.
func (t Threshold) Check(res *Result) ThresholdResult {
	s := res.Phases.Measure
	if t.Operation != "" {
		s = res.Operations[t.Operation]
	}
	r := ThresholdResult{Name: t.Name, Limit: t.Limit}
	measured := s.Ops > 0
	switch {
	case latencyMetrics[t.Metric] != nil:
		r.Value = float64(latencyMetrics[t.Metric](s.Latency))
		measured = s.Ops > s.Errors
	case t.Metric == "error_rate":
		if s.Ops > 0 {
			r.Value = float64(s.Errors) / float64(s.Ops)
		}
	case t.Metric == "throughput":
		r.Value, measured = s.Throughput, true
	case t.Metric == "achieved_ratio":
		if measured = s.Schedule != nil; measured {
			r.Value = s.Schedule.AchievedRatio
		}
	case t.Metric == "backlog":
		if measured = s.Schedule != nil; measured {
			r.Value = float64(s.Schedule.BacklogEnd)
		}
	}
	switch t.Op {
	case "<":
		r.OK = r.Value < t.Limit
	case "<=":
		r.OK = r.Value <= t.Limit
	case ">":
		r.OK = r.Value > t.Limit
	case ">=":
		r.OK = r.Value >= t.Limit
	}
	r.OK = r.OK && measured
	return r
}

func evaluate(ts []Threshold, res *Result) []ThresholdResult {
	var out []ThresholdResult
	for _, t := range ts {
		out = append(out, t.Check(res))
	}
	return out
}

// FailedThresholds returns the thresholds that did not hold.
func (r *Result) FailedThresholds() []ThresholdResult {
	var out []ThresholdResult
	for _, t := range r.Thresholds {
		if !t.OK {
			out = append(out, t)
		}
	}
	return out
}
