package loadtest

import (
	"encoding/json"
	"fmt"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in nanoseconds from 0 to maxLatency, to 3
// significant digits; a longer operation is recorded as maxLatency and still
// counts in Latency.Max as measured.
const (
	maxLatency = int64(time.Hour)
	sigFigs    = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, maxLatency, sigFigs) }

// tally is what one worker counts for one operation in one phase. Only its
// worker writes it, so recording takes no lock.
type tally struct {
	hist     *hdrhistogram.Histogram // successful operations; nil until the first
	ops      int64                   // operations that ended, with or without error
	errs     int64
	max      time.Duration // exact, even beyond maxLatency
	kinds    [numKinds]int64
	firstErr [numKinds]string // one message per kind, for the report
}

func (t *tally) record(d time.Duration, err error) {
	t.ops++
	if err != nil {
		t.errs++
		k := Classify(err)
		if t.kinds[k]++; t.firstErr[k] == "" {
			t.firstErr[k] = err.Error()
		}
		return
	}
	if t.hist == nil {
		t.hist = newHist()
	}
	v := int64(d)
	if v > maxLatency {
		v = maxLatency
	}
	_ = t.hist.RecordValue(v) // cannot fail: v is within range
	if d > t.max {
		t.max = d
	}
}

// merge adds o into t.
func (t *tally) merge(o *tally) {
	t.ops += o.ops
	t.errs += o.errs
	if o.max > t.max {
		t.max = o.max
	}
	for k := range o.kinds {
		t.kinds[k] += o.kinds[k]
		if t.firstErr[k] == "" {
			t.firstErr[k] = o.firstErr[k]
		}
	}
	if o.hist != nil {
		if t.hist == nil {
			t.hist = newHist()
		}
		t.hist.Merge(o.hist)
	}
}

// stats turns a tally over a window of length d into Stats.
func (t *tally) stats(d time.Duration) Stats {
	s := Stats{Ops: t.ops, Errors: t.errs, Duration: d}
	for k, n := range t.kinds {
		if n == 0 {
			continue
		}
		if s.ErrorsByKind == nil {
			s.ErrorsByKind, s.ErrorSamples = map[string]int64{}, map[string]string{}
		}
		s.ErrorsByKind[ErrorKind(k).String()] = n
		s.ErrorSamples[ErrorKind(k).String()] = t.firstErr[k]
	}
	if d > 0 {
		s.Throughput = float64(t.ops-t.errs) / d.Seconds()
	}
	if t.hist != nil {
		s.Histogram = &Histogram{h: t.hist}
		s.Latency = latencyOf(t.hist, t.max)
	}
	return s
}

func latencyOf(h *hdrhistogram.Histogram, max time.Duration) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	q := func(p float64) time.Duration { return time.Duration(h.ValueAtQuantile(p)) }
	if max == 0 || max < time.Duration(h.Max()) {
		max = time.Duration(h.Max())
	}
	return Latency{
		Min: time.Duration(h.Min()), Mean: time.Duration(h.Mean()),
		P50: q(50), P90: q(90), P99: q(99), P999: q(99.9), Max: max,
	}
}

// Stats are the statistics of one phase, or of one operation in one phase.
type Stats struct {
	// Ops counts operations that ended in the window, failed or not; an
	// operation belongs to the window in which it started.
	Ops int64 `json:"ops"`
	// Errors counts the failed ones; ErrorsByKind splits them by ErrorKind
	// and ErrorSamples keeps the first message of each kind.
	Errors       int64             `json:"errors"`
	ErrorsByKind map[string]int64  `json:"errors_by_kind,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Duration is the window's length.
	Duration time.Duration `json:"duration_ns"`
	// Throughput is successful operations per second of Duration.
	Throughput float64 `json:"throughput_per_s"`
	// Latency summarises the successful operations' latencies.
	Latency Latency `json:"latency_ns"`
	// Histogram holds every latency, so that statistics from many workers
	// and processes merge exactly. Nil when no operation succeeded.
	Histogram *Histogram `json:"histogram,omitempty"`
}

// Latency is a latency distribution's summary, in nanoseconds in JSON.
type Latency struct {
	Min  time.Duration `json:"min"`
	Mean time.Duration `json:"mean"`
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P99  time.Duration `json:"p99"`
	P999 time.Duration `json:"p999"`
	Max  time.Duration `json:"max"`
}

// Histogram is a latency histogram (HdrHistogram, nanoseconds, 3
// significant digits). In JSON it is HdrHistogram's compressed V2 encoding,
// base64, which other HdrHistogram implementations can read.
type Histogram struct{ h *hdrhistogram.Histogram }

// Quantile returns the latency at quantile q (0-100).
func (h *Histogram) Quantile(q float64) time.Duration {
	return time.Duration(h.h.ValueAtQuantile(q))
}

// Count is the number of latencies recorded.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Merge adds o's latencies to h.
func (h *Histogram) Merge(o *Histogram) { h.h.Merge(o.h) }

// MarshalJSON encodes the histogram.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	b, err := h.h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("loadtest: encoding histogram: %w", err)
	}
	return json.Marshal(string(b))
}

// UnmarshalJSON decodes what MarshalJSON encoded.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("loadtest: histogram: want a base64 string: %w", err)
	}
	d, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return fmt.Errorf("loadtest: histogram: %w", err)
	}
	h.h = d
	return nil
}
