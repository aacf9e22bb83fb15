package loadtest

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/startline/startline/pool"
)

// Latencies are recorded in nanoseconds from 0 to maxLatency, to 3
// significant digits; a longer operation is recorded as maxLatency and still
// counts in Latency.Max as measured.
const (
	maxLatency = time.Hour
	sigFigs    = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, int64(maxLatency), sigFigs) }

// inRange clamps a latency in nanoseconds to what newHist records.
func inRange(v int64) int64 { return min(max(v, 0), int64(maxLatency)) }

// Why a worker does not keep histograms of its own.
//
// An HdrHistogram over 1ns..1h to 3 significant digits is some 270 KB,
// however few values it holds. One per worker, per phase and operation,
// in each of a worker's two interval buffers, is a gigabyte per thousand
// workers: 10,000 workers would not fit. A coarser histogram per worker
// would make every percentile coarser, and a histogram shared by all
// workers would need a lock (or an atomic add on a contended line) per
// operation.
//
// So a worker keeps only a small batch of raw latencies per (phase,
// operation), written with no synchronisation. When a batch is full the
// worker moves it, in one go, into one of a few histograms shared per
// (phase, operation) (a shardSet, about two per CPU), taking that
// histogram's lock with TryLock: if it is busy the worker tries the next,
// and if every one is busy it records into a histogram of its own,
// allocated then (rare, and kept for the rest of the run). A worker never
// waits on a lock and allocates nothing while a shared histogram is free,
// and the values are recorded exactly as before: the totals are exact to
// 3 significant digits whatever the number of workers. Memory is the
// shards' (2 per CPU x 270 KB per (phase, operation) used) plus 2 KB per
// worker and (phase, operation); the counts themselves (ops, errors,
// maximum) stay per worker, exact.
//
// The collector takes the shards' contents when it takes the workers'
// buffers (gather), so a batch moved just after an interval's end counts
// in the next interval, as does a buffer handed over late; the phase
// totals, taken after the workers stopped, hold every value.

// batchLen is how many latencies a worker holds before moving them into a
// histogram: enough to make the move's lock rare, and the moves of workers
// on other CPUs into the same shard (whose counts' cache lines then move
// between the CPUs; at 64 workers on 2 CPUs, 64 cost 5% of the bare
// loop's operations per CPU second, 128 none), small enough that 10,000
// workers' batches fit in tens of megabytes.
const batchLen = 128

// shardSet is the histograms that the workers' full batches of one
// (phase, operation) go to.
type shardSet struct{ s []shard }

type shard struct {
	mu sync.Mutex
	c  *denseCounts // nil until the first batch
	_  [48]byte     // keeps neighbouring shards' locks off one cache line
}

func newShardSet(n int) *shardSet { return &shardSet{s: make([]shard, max(n, 1))} }

// drainInto merges every shard into *h and empties it. The collector's
// side: it may wait for a worker's move to end.
func (ss *shardSet) drainInto(h **hdrhistogram.Histogram) {
	if ss == nil {
		return
	}
	for i := range ss.s {
		sh := &ss.s[i]
		sh.mu.Lock()
		if sh.c != nil {
			sh.c.drainInto(h)
		}
		sh.mu.Unlock()
	}
}

// latencies records latencies of one kind (an operation's, or its queueing
// delay) for one worker, or, on the collector's side, their totals.
type latencies struct {
	n      int                     // values in batch
	batch  [batchLen]int64         // not yet in a histogram
	moved  int64                   // values moved out of batch, into hist or the shards
	hist   *hdrhistogram.Histogram // the worker's own (see above); the collector's totals
	shards *shardSet               // where full batches go; nil: into hist
	first  int                     // the shard this worker tries first
}

// add records v; the caller has checked nothing.
func (l *latencies) add(v time.Duration) {
	if l.n == batchLen {
		l.flush()
	}
	l.batch[l.n] = int64(v)
	l.n++
}

// flush moves the batch into a shared histogram that is free, or into the
// worker's own.
func (l *latencies) flush() {
	if l.n == 0 {
		return
	}
	if ss := l.shards; ss != nil {
		for i := range ss.s {
			sh := &ss.s[(l.first+i)%len(ss.s)]
			if sh.mu.TryLock() {
				if sh.c == nil {
					sh.c = new(denseCounts)
				}
				sh.c.recordAll(l.batch[:l.n])
				sh.mu.Unlock()
				l.moved += int64(l.n)
				l.n = 0
				return
			}
		}
	}
	l.settle()
}

// settle moves the batch into the worker's own histogram.
func (l *latencies) settle() {
	if l.n == 0 {
		return
	}
	if l.hist == nil {
		l.hist = newHist()
	}
	recordAll(l.hist, l.batch[:l.n])
	l.moved += int64(l.n)
	l.n = 0
}

func recordAll(h *hdrhistogram.Histogram, vs []int64) {
	for _, v := range vs {
		_ = h.RecordValue(inRange(v)) // cannot fail: within range
	}
}

// count is the number of values recorded.
func (l *latencies) count() int64 { return l.moved + int64(l.n) }

// reset empties l and keeps its histogram and shards for reuse.
func (l *latencies) reset() {
	l.n, l.moved = 0, 0
	if l.hist != nil {
		l.hist.Reset()
	}
}

// mergeFrom adds o's values to l's histogram.
func (l *latencies) mergeFrom(o *latencies) {
	mergeHist(&l.hist, o.hist)
	if o.n > 0 {
		if l.hist == nil {
			l.hist = newHist()
		}
		recordAll(l.hist, o.batch[:o.n])
	}
	l.moved += o.count()
}

// tally is what one worker counts for one operation in one phase. Only its
// worker writes it, so recording takes no lock.
type tally struct {
	lat      latencies // successful operations
	errs     int64
	max      time.Duration // exact, even beyond maxLatency
	kinds    [pool.NumKinds]int64
	firstErr [pool.NumKinds]string // one message per kind, for the report

	// Arrival-rate runs only: the pacer's lateness (scheduled start to
	// release) and the queueing (release to a worker's start) of each
	// operation, the operations late by more than Config.LateAfter, those
	// dropped at the in-flight bound, and those that completed after the
	// window they were scheduled in (in all, and the successful ones).
	queue, lag     *latencies // nil until used: a closed loop has no queue
	late           int64
	dropped        int64
	after, afterOK int64
	carriedOK      int64 // successful warmup operations that completed inside the measured window

	// Keeps the next tally, maybe another worker's, off the cache line
	// that this one's last fields are on.
	_ [64]byte
}

// q returns t's queue latencies, made on first use.
func (t *tally) q() *latencies {
	if t.queue == nil {
		t.queue = new(latencies)
	}
	return t.queue
}

// l returns t's scheduling lag latencies, made on first use.
func (t *tally) l() *latencies {
	if t.lag == nil {
		t.lag = new(latencies)
	}
	return t.lag
}

// share makes t's full batches go to the shards of sh (the success, the
// queue and the lag latencies of its phase and operation), trying shard
// first first.
func (t *tally) share(sh opShards, first int) {
	t.lat.shards = sh.lat
	if sh.lat != nil {
		t.lat.first = first % len(sh.lat.s)
	}
	if sh.queue != nil {
		// Made now, so that an arrival-rate worker's first operation
		// allocates nothing.
		t.q().shards, t.queue.first = sh.queue, first%len(sh.queue.s)
		t.l().shards, t.lag.first = sh.lag, first%len(sh.lag.s)
	}
}

// recordQueue records an arrival-rate operation's scheduling lag and
// queueing delay, whether it was late, and whether it completed after its
// window (and succeeded).
func (t *tally) recordQueue(lag, queue time.Duration, late, after, carried, ok bool) {
	t.l().add(max(lag, 0))
	t.q().add(max(queue, 0))
	if late {
		t.late++
	}
	if after {
		t.after++
		if ok {
			t.afterOK++
			if carried {
				t.carriedOK++
			}
		}
	}
}

// reset empties t and keeps its histograms and shards for reuse.
func (t *tally) reset() {
	t.lat.reset()
	if t.queue != nil {
		t.queue.reset()
	}
	if t.lag != nil {
		t.lag.reset()
	}
	t.errs, t.max, t.late, t.dropped, t.after, t.afterOK, t.carriedOK = 0, 0, 0, 0, 0, 0, 0
	t.kinds = [pool.NumKinds]int64{}
	t.firstErr = [pool.NumKinds]string{}
}

// record records an operation that took d and failed with err (nil for a
// success), of kind if it failed.
func (t *tally) record(d time.Duration, err error, kind pool.ErrorKind) {
	// The usual case first: a store into the batch. (Worker.loop has a
	// copy of this.)
	if err == nil && d <= t.max && t.lat.n < batchLen {
		t.lat.batch[t.lat.n] = int64(d)
		t.lat.n++
		return
	}
	t.recordSlow(d, err, kind)
}

// recordSlow records a failure, a new maximum or a success into a full
// batch.
func (t *tally) recordSlow(d time.Duration, err error, kind pool.ErrorKind) {
	if err != nil {
		t.recordErr(kind, err)
		return
	}
	if d > t.max {
		t.max = d
	}
	t.lat.add(d)
}

// recordErr counts a failed operation: out of the hot path.
func (t *tally) recordErr(k pool.ErrorKind, err error) {
	t.errs++
	if t.kinds[k]++; t.firstErr[k] == "" {
		t.firstErr[k] = err.Error()
	}
}

// count is the number of operations recorded, failed or not.
func (t *tally) count() int64 { return t.errs + t.lat.count() }

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
	t.after += o.after
	t.afterOK += o.afterOK
	t.carriedOK += o.carriedOK
	t.lat.mergeFrom(&o.lat)
	if o.queue != nil {
		t.q().mergeFrom(o.queue)
	}
	if o.lag != nil {
		t.l().mergeFrom(o.lag)
	}
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
	t.lat.settle()
	if t.queue != nil {
		t.queue.settle()
	}
	if t.lag != nil {
		t.lag.settle()
	}
	ops := t.count()
	s := Stats{Ops: ops, Errors: t.errs, Duration: d, Late: t.late, Dropped: t.dropped}
	for k, n := range t.kinds {
		if n == 0 {
			continue
		}
		if s.ErrorsByKind == nil {
			s.ErrorsByKind, s.ErrorSamples = map[string]int64{}, map[string]string{}
		}
		s.ErrorsByKind[pool.ErrorKind(k).String()] = n
		s.ErrorSamples[pool.ErrorKind(k).String()] = t.firstErr[k]
	}
	if d > 0 {
		s.Throughput = float64(ops-t.errs-t.afterOK) / d.Seconds()
	}
	if h := t.lat.hist; h != nil && h.TotalCount() > 0 {
		s.Histogram = &Histogram{h: h}
		s.Latency = latencyOf(h, t.max)
	}
	s.Queue, s.SchedLag = summary(t.queue), summary(t.lag)
	return s
}

// summary summarises l, or is nil when it holds nothing.
func summary(l *latencies) *Latency {
	if l == nil || l.hist == nil || l.hist.TotalCount() == 0 {
		return nil
	}
	s := latencyOf(l.hist, 0)
	return &s
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
	// Errors counts the failed ones; ErrorsByKind splits them by pool.ErrorKind
	// and ErrorSamples keeps the first message of each kind.
	Errors       int64             `json:"errors"`
	ErrorsByKind map[string]int64  `json:"errors_by_kind,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Duration is the window's length.
	Duration time.Duration `json:"duration_ns"`
	// Throughput is successful operations per second of Duration. In an
	// arrival-rate run it counts those that completed inside the window,
	// whichever window scheduled them (operations of the warmup that
	// completed in the measured window count in it: Schedule.CarriedIn),
	// and not those that completed after it (Schedule.CompletedAfter).
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
	// SchedLag and Queue split, in an arrival-rate run, the delay from
	// each operation's scheduled start to its actual start: SchedLag is
	// the pacer's own lateness (scheduled start to the instant it released
	// the operation), Queue the wait for a worker (release to start). Nil
	// in a closed-loop run.
	SchedLag *Latency `json:"sched_lag_ns,omitempty"`
	Queue    *Latency `json:"queue_ns,omitempty"`
	// Schedule is, in an arrival-rate run, what was offered against what
	// was achieved (see Schedule); nil in a closed-loop run. Its fields
	// are at this level in JSON.
	*Schedule

	// EndedBy says, for the warmup phase only, why the warmup ended:
	// EndedByDuration, EndedBySteady or EndedByMax; empty when the run
	// stopped during the warmup. Examined counts the intervals a steady
	// warmup looked at.
	EndedBy  string `json:"ended_by,omitempty"`
	Examined int    `json:"intervals_examined,omitempty"`

	// Server is the server's own split of the statements' time, for a
	// pool that keeps one (see pool.StatementHistory and ServerSplit); nil
	// otherwise.
	Server *ServerSplit `json:"server,omitempty"`
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
