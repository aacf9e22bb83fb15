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
	maxLatency = time.Hour
	sigFigs    = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, int64(maxLatency), sigFigs) }

// tally is what one worker counts for one operation in one phase. Only its
// worker writes it, so recording takes no lock.
type tally struct {
	hist     *hdrhistogram.Histogram // successful operations; nil until the first
	errs     int64
	max      time.Duration // exact, even beyond maxLatency
	kinds    [numKinds]int64
	firstErr [numKinds]string // one message per kind, for the report

	// Arrival-rate runs only: the delay from each operation's scheduled
	// start to its actual start, the operations late by more than
	// Config.LateAfter, and those dropped at the in-flight bound.
	queue   *hdrhistogram.Histogram
	late    int64
	dropped int64
}

// recordQueue records an arrival-rate operation's queueing delay.
func (t *tally) recordQueue(d time.Duration, late bool) {
	if t.queue == nil {
		t.queue = newHist()
	}
	_ = t.queue.RecordValue(int64(min(max(d, 0), maxLatency)))
	if late {
		t.late++
	}
}

// reset empties t and keeps its histograms for reuse.
func (t *tally) reset() {
	h, q := t.hist, t.queue
	*t = tally{hist: h, queue: q}
	if h != nil {
		h.Reset()
	}
	if q != nil {
		q.Reset()
	}
}

func (t *tally) record(d time.Duration, err error) {
	// The usual case first: it costs what recording in a bare histogram
	// costs. (Worker.loop has a copy of this.)
	if err == nil && d <= t.max && d <= maxLatency && t.hist != nil {
		_ = t.hist.RecordValue(int64(d)) // cannot fail: within range
		return
	}
	t.recordSlow(d, err)
}

// recordSlow records a failure, a new maximum, a latency beyond
// maxLatency or the first latency.
func (t *tally) recordSlow(d time.Duration, err error) {
	if err != nil {
		t.recordErr(err)
		return
	}
	if d > t.max {
		t.max = d
	}
	if t.hist == nil {
		t.hist = newHist()
	}
	_ = t.hist.RecordValue(int64(min(d, maxLatency))) // cannot fail: within range
}

// recordErr counts a failed operation: out of the hot path.
func (t *tally) recordErr(err error) {
	t.errs++
	k := Classify(err)
	if t.kinds[k]++; t.firstErr[k] == "" {
		t.firstErr[k] = err.Error()
	}
}

// count is the number of operations recorded: the failed ones and the
// histogram's (so that recording a success updates one counter, not two).
func (t *tally) count() int64 {
	n := t.errs
	if t.hist != nil {
		n += t.hist.TotalCount()
	}
	return n
}

// merge adds o into t.
func (t *tally) merge(o *tally) {
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
	t.late += o.late
	t.dropped += o.dropped
	mergeHist(&t.hist, o.hist)
	mergeHist(&t.queue, o.queue)
}

// mergeHist adds o into *h, allocating *h on first use.
func mergeHist(h **hdrhistogram.Histogram, o *hdrhistogram.Histogram) {
	if o == nil || o.TotalCount() == 0 {
		return
	}
	if *h == nil {
		*h = newHist()
	}
	(*h).Merge(o)
}

// stats turns a tally over a window of length d into Stats.
func (t *tally) stats(d time.Duration) Stats {
	ops := t.count()
	s := Stats{Ops: ops, Errors: t.errs, Duration: d, Late: t.late, Dropped: t.dropped}
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
		s.Throughput = float64(ops-t.errs) / d.Seconds()
	}
	if t.hist != nil && t.hist.TotalCount() > 0 {
		s.Histogram = &Histogram{h: t.hist}
		s.Latency = latencyOf(t.hist, t.max)
	}
	if t.queue != nil && t.queue.TotalCount() > 0 {
		q := latencyOf(t.queue, 0)
		s.Queue = &q
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

	// Late counts, in an arrival-rate run, the operations that started
	// more than Config.LateAfter after their scheduled start; their
	// latency includes the wait. Dropped counts the operations scheduled
	// in the window but never started because Config.MaxInFlight were
	// already in flight. Both are zero in a closed-loop run.
	Late    int64 `json:"late"`
	Dropped int64 `json:"dropped"`
	// Queue summarises, in an arrival-rate run, the delay from each
	// operation's scheduled start to its actual start; nil otherwise.
	Queue *Latency `json:"queue_ns,omitempty"`

	// EndedBy says, for the warmup phase only, why the warmup ended:
	// EndedByDuration, EndedBySteady or EndedByMax; empty when the run
	// stopped during the warmup. Examined counts the intervals a steady
	// warmup looked at.
	EndedBy  string `json:"ended_by,omitempty"`
	Examined int    `json:"intervals_examined,omitempty"`
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
