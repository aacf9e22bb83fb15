package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Streaming: each node sends every interval as it closes, so that an
// orchestrator merges the fleet's intervals while the run goes on (see
// LiveMerge) and keeps what a node measured even when the node dies.
//
// The two interfaces deal in encoded records (a StreamRecord as
// json.Marshal writes it), as ResultStore and ResultSource do: a store
// (package sqlsink's stream table, a NATS stream) needs nothing of this
// package.
//
// Sending never blocks a worker, nor the Runner's collector: the
// collector copies the interval's histograms into a record and offers it
// to a queue of StreamQueue records; one sender goroutine encodes the
// records and stores them, in order. A record that finds the queue full
// is dropped and counted, and one whose store fails is counted as unsent:
// Result.Stream says how many, and the text report says it. At the end of
// Run the sender is given StreamFlush to store what is queued; what it
// could not store by then is counted unsent. No goroutine outlives Run.
//
// So at most the interval in flight is lost when a node dies: the one
// that had not closed yet, and a record still in the queue (or being
// stored) when the process ended.

// StreamQueue is how many closed intervals wait, at most, for the sender.
const StreamQueue = 64

// StreamFlush bounds how long Run waits, at the end, for the sender to
// store the records still queued.
const StreamFlush = 10 * time.Second

// StreamStore is where a node stores each closed interval, encoded. seq
// numbers a node's records from 0, in the order they closed. PutRecord is
// called by one goroutine at a time for a given node, and must return
// when ctx ends. Storing the same (runID, node, seq) again may keep
// either record: they are the same.
type StreamStore interface {
	PutRecord(ctx context.Context, runID, node string, seq int64, record []byte) error
}

// StreamSource is where an orchestrator reads the records that the nodes
// of a run stored. Records returns every record of run runID whose seq is
// at least from (a record may be returned again by a later call; readers
// keep the first of each node and seq), in any order. It must be safe for
// concurrent use, and may be called while nodes are still writing.
type StreamSource interface {
	Records(ctx context.Context, runID string, from int64) ([][]byte, error)
}

// StreamRecord is one node's closed interval as streamed: its summary
// (Interval, as in Result.Intervals) and its exact statistics per
// operation, with their histograms and errors by kind (Stats, as in
// Result.Operations), so that an orchestrator merges many nodes'
// intervals exactly.
type StreamRecord struct {
	RunID string `json:"run_id"`
	Node  string `json:"node"`
	Seq   int64  `json:"seq"`
	// StartedAt is the node's anchor (Result.StartedAt), and ClockOffset
	// its clock's offset against the reference clock: the interval started
	// at StartedAt + Interval.Start - ClockOffset on the reference clock.
	StartedAt   time.Time     `json:"started_at"`
	ClockOffset time.Duration `json:"clock_offset_ns"`
	// Workers and Conns are the node's (Result.Config).
	Workers int `json:"workers"`
	Conns   int `json:"conns"`
	// Interval is the interval as the node's Result.Intervals holds it.
	Interval Interval `json:"interval"`
	// Operations holds the interval's statistics per operation, with their
	// histograms; their Duration is the interval's.
	Operations map[string]Stats `json:"operations"`
}

// Start is when the interval started, on the reference clock.
func (r *StreamRecord) Start() time.Time {
	return r.StartedAt.Add(r.Interval.Start - r.ClockOffset)
}

// StreamStats says what became of a node's stream.
type StreamStats struct {
	// Records counts the closed intervals, Sent those stored; Dropped
	// those that found the queue full, Unsent those whose store failed or
	// was not done by the end of the run. Records = Sent + Dropped + Unsent.
	Records int64 `json:"records"`
	Sent    int64 `json:"sent"`
	Dropped int64 `json:"dropped"`
	Unsent  int64 `json:"unsent"`
	// Err is the first store error, if any.
	Err string `json:"error,omitempty"`
}

// Lost is the records that did not reach the store.
func (s *StreamStats) Lost() int64 { return s.Dropped + s.Unsent }

// streamer is one Run's sender.
type streamer struct {
	store       StreamStore
	runID, node string
	q           chan *StreamRecord
	ctx         context.Context
	cancel      context.CancelFunc
	done        chan struct{}

	workers, conns int
	startedAt      time.Time
	flushTimeout   time.Duration

	// The collector's (the Runner's goroutine).
	seq, records, dropped int64
	offsetKnown, closed   bool
	offset                time.Duration

	// The sender's; read after it ended.
	sent, unsent atomic.Int64
	errOnce      sync.Once
	err          string
}

// startStream starts the sender of a run with a Stream; ctx is the run's.
func (ru *run) startStream(ctx context.Context) {
	if ru.cfg.Stream == nil {
		return
	}
	s := &streamer{
		store: ru.cfg.Stream, runID: ru.cfg.RunID, node: ru.cfg.Node,
		q: make(chan *StreamRecord, StreamQueue), done: make(chan struct{}),
		workers: ru.cfg.Workers, conns: ru.cfg.Conns, startedAt: ru.rec.Anchor(),
		flushTimeout: StreamFlush,
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	ru.stream = s
	go s.send()
}

// send stores the queued records in order until the queue is closed.
func (s *streamer) send() {
	defer close(s.done)
	for rec := range s.q {
		if s.ctx.Err() != nil {
			s.unsent.Add(1)
			continue
		}
		b, err := json.Marshal(rec)
		if err == nil {
			err = s.store.PutRecord(s.ctx, rec.RunID, rec.Node, rec.Seq, b)
		}
		if err != nil {
			s.unsent.Add(1)
			s.errOnce.Do(func() { s.err = fmt.Sprintf("interval %d: %v", rec.Seq, err) })
			continue
		}
		s.sent.Add(1)
	}
}

// offer queues rec without waiting; a full queue drops it, counted.
func (s *streamer) offer(rec *StreamRecord) {
	s.records++
	select {
	case s.q <- rec:
	default:
		s.dropped++
	}
}

// stop closes the queue and waits for the sender, at most flushTimeout;
// then it cancels the store in progress and counts what is left unsent.
func (s *streamer) stop() *StreamStats {
	if !s.closed {
		s.closed = true
		close(s.q)
		t := time.NewTimer(s.flushTimeout)
		select {
		case <-s.done:
		case <-t.C:
			s.cancel()
			<-s.done
		}
		t.Stop()
		s.cancel()
	}
	return &StreamStats{Records: s.records, Sent: s.sent.Load(), Dropped: s.dropped, Unsent: s.unsent.Load(), Err: s.err}
}

// streamRecord builds the record of interval iv of phase ph: copies of the
// collector's tallies (the sender encodes them later, while the collector
// has reset and reused its own).
func (ru *run) streamRecord(iv Interval, ph int) *StreamRecord {
	s := ru.stream
	if !s.offsetKnown {
		// Measured when the node registered, before the start.
		s.offset, s.offsetKnown = ru.rec.Timeline().ClockOffset, true
	}
	rec := &StreamRecord{
		RunID: s.runID, Node: s.node, Seq: s.seq,
		StartedAt: s.startedAt, ClockOffset: s.offset,
		Workers: s.workers, Conns: s.conns,
		Interval:   iv,
		Operations: make(map[string]Stats, len(ru.cfg.Workload.Operations)),
	}
	s.seq++
	for i, op := range ru.cfg.Workload.Operations {
		rec.Operations[op.Name] = recordStats(&ru.col.iv[ph][i], iv.Duration)
	}
	return rec
}

// recordStats is t's Stats for a record: counts, errors by kind and a copy
// of the histogram, with only the maximum of the latency summary (the
// record's Interval has the summary; a reader merges the histograms).
func recordStats(t *tally, d time.Duration) Stats {
	t.lat.settle()
	h := t.lat.hist
	t.lat.hist = nil // stats would summarise it: a walk of the histogram per quantile
	st := t.stats(d)
	t.lat.hist = h
	if h != nil && h.TotalCount() > 0 {
		st.Histogram = &Histogram{h: h.Clone()}
	}
	st.Latency.Max = t.max
	return st
}

// DecodeStreamRecord decodes an encoded StreamRecord and checks it: a run
// id and node, a known phase, and counts that add up.
func DecodeStreamRecord(b []byte) (*StreamRecord, error) {
	var r StreamRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("loadtest: stream record: %w", err)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// check checks a decoded record: a run id and node, a known phase, and
// counts that add up.
func (r *StreamRecord) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("loadtest: stream record %d of node %q: "+format, append([]any{r.Seq, r.Node}, args...)...)
	}
	switch {
	case r.RunID == "" || r.Node == "":
		return bad("run_id and node are required")
	case r.Seq < 0:
		return bad("seq: negative")
	case r.Interval.Phase != phaseNames[inWarmup] && r.Interval.Phase != phaseNames[inMeasure]:
		return bad("interval.phase: %q is not warmup or measure", r.Interval.Phase)
	case r.Interval.Duration < 0:
		return bad("interval.duration_ns: negative")
	}
	var ops int64
	for name, st := range r.Operations {
		if st.Ops < st.Errors || st.Errors < 0 {
			return bad("operations[%q]: errors (%d) above ops (%d)", name, st.Errors, st.Ops)
		}
		// A histogram's count need not be the interval's successes: a
		// batch of latencies moved into the shared histograms just before
		// an interval's end lands in the next interval's histogram (see
		// stats.go); over the run they add up.
		ops += st.Ops
	}
	if len(r.Operations) > 0 && ops != r.Interval.Ops {
		return bad("operations add up to %d ops, interval.ops is %d", ops, r.Interval.Ops)
	}
	return nil
}

// writeStream says, in the text report, what did not reach the stream.
func writeStream(w io.Writer, s *StreamStats) {
	if s != nil {
		fmt.Fprintln(w, s)
	}
}

// String says what reached the stream and what did not, as the text
// report shows it.
func (s *StreamStats) String() string {
	out := fmt.Sprintf("stream: %d of %d intervals sent", s.Sent, s.Records)
	if s.Lost() > 0 {
		out += fmt.Sprintf("; NOT SENT: %d dropped (queue full), %d unsent", s.Dropped, s.Unsent)
		if s.Err != "" {
			out += " (first error: " + s.Err + ")"
		}
	}
	return out
}

// MemoryStream is a StreamStore and StreamSource in memory, for nodes that
// run as goroutines of one process (and for tests). The zero value is
// ready to use.
type MemoryStream struct {
	mu   sync.Mutex
	recs map[string]map[memKey][]byte // by run
}

type memKey struct {
	node string
	seq  int64
}

// PutRecord implements StreamStore; it keeps a copy of record.
func (s *MemoryStream) PutRecord(ctx context.Context, runID, node string, seq int64, record []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs == nil {
		s.recs = map[string]map[memKey][]byte{}
	}
	if s.recs[runID] == nil {
		s.recs[runID] = map[memKey][]byte{}
	}
	s.recs[runID][memKey{node, seq}] = slices.Clone(record)
	return nil
}

// Records implements StreamSource.
func (s *MemoryStream) Records(ctx context.Context, runID string, from int64) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for k, b := range s.recs[runID] {
		if k.seq >= from {
			out = append(out, b)
		}
	}
	return out, nil
}
