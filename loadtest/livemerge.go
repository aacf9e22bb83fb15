package loadtest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/internal/backoff"
	"github.com/startline/startline/timing"
)

// The live merge: an orchestrator reads the fleet's stream (see
// StreamSource) while the run goes on, merges the intervals exactly as
// they arrive (counts add, histograms merge; the intervals of different
// nodes are the same interval when they started at the same instant on
// the reference clock), prints one progress line per fleet interval,
// checks the fleet's thresholds on the merged measured window as it grows,
// and, at the end, gives the merged result the fleet's intervals and the
// partial results of the nodes that were lost, rebuilt from what they
// streamed.

// LiveOptions configure a LiveMerge.
type LiveOptions struct {
	// RunID is the run whose records are merged. Required.
	RunID string
	// Nodes are the nodes expected to stream: a fleet interval is complete
	// when every one of them that is not lost has sent it.
	Nodes []string
	// Interval is the nodes' Config.Interval. Default: DefaultInterval.
	Interval time.Duration
	// Start is the start instant T on the reference clock, the origin of
	// the fleet's intervals; zero means the start of the first record read.
	Start time.Time
	// Thresholds are checked on the merged measured window at every fleet
	// interval, and on the merged result at the end (see ParseThreshold);
	// achieved_ratio and backlog only at the end.
	Thresholds []string
	// AbortOnFail makes a threshold that fails during the run stop it:
	// OnAbort is called once, with the threshold. A threshold is not
	// checked for that before AbortGrace of the measured window has
	// passed (as k6's delayAbortEval).
	AbortOnFail bool
	AbortGrace  time.Duration
	// OnAbort is called, from Follow's goroutine, when a threshold fails
	// under AbortOnFail; it should abort the run (coordinate's abort event).
	OnAbort func(ThresholdResult)
	// Lost returns the nodes declared lost so far (coordinate.Run.Lost);
	// nil means none.
	Lost func() []string
	// Progress receives one line per fleet interval; nil means none.
	Progress io.Writer
	// OnInterval is called, from Follow's goroutine, with every fleet
	// interval as it completes.
	OnInterval func(FleetInterval)
	// Poll is how often Follow reads the source. Default: Interval / 4.
	Poll time.Duration
}

// FleetInterval is one interval merged over the fleet, as it completed.
type FleetInterval struct {
	Interval
	// Nodes counts the nodes whose records it merges; Lost, the nodes
	// declared lost when it completed.
	Nodes int `json:"nodes"`
	Lost  int `json:"lost"`
}

// LiveMerge merges a run's streamed intervals. Its methods are safe for
// concurrent use.
type LiveMerge struct {
	opts       LiveOptions
	thresholds []Threshold
	q          time.Duration // the grid on which interval starts are matched

	mu       sync.Mutex
	origin   time.Time
	buckets  map[bucketKey]*bucket
	starts   map[int64]time.Time // each bucket key's start: the earliest record's
	nodes    map[string]*nodeStream
	ops      []string // operation names, in order of first sight
	done     []FleetInterval
	measured time.Duration         // closed measure intervals' length
	cum      map[string]*liveStats // the measured window so far, per operation
	cumAll   liveStats
	stop     *thresholdStop
	records  int64
}

type bucketKey struct {
	phase int
	at    int64 // start, in units of q from the origin
}

type bucket struct {
	key      bucketKey
	dur      time.Duration
	elapsed  time.Duration
	remain   time.Duration
	target   float64
	late     int64
	dropped  int64
	load     *Load   // arrival rate: the nodes' loads added up
	tput     float64 // arrival rate: the nodes' throughputs added up
	nodes    map[string]bool
	ops      map[string]*liveStats
	complete bool
}

// nodeStream is what the merge knows of one node's stream.
type nodeStream struct {
	tl      timing.Timeline // its startup, from its first record
	seen    map[int64]bool
	next    int64        // every seq below it was read
	last    time.Time    // start of its latest interval
	phase   timing.Phase // the phase of that interval
	workers int
}

// liveStats accumulates Stats in place. Its latencies are a histogram's
// counts, added index by index: merging through the histograms' own Merge
// walks every recorded value, which a merge of thousands of records a
// second cannot afford; a histogram is made of the counts only when a
// summary is wanted.
type liveStats struct {
	ops, errs, late, dropped int64
	max                      time.Duration
	kinds                    map[string]int64
	samples                  map[string]string
	snap                     *hdrhistogram.Snapshot // nil until the first latency
	// packed holds the latencies instead of snap once the interval has
	// completed (see compact): its used buckets only.
	packed *sparseHist
}

// compact keeps only the used buckets of l's counts: a completed
// interval's 256 KB of counts hold a few hundred used buckets, and a long
// run has thousands of intervals. A record that comes after makes them
// whole again (expand).
func (l *liveStats) compact() {
	if l.snap == nil {
		return
	}
	s := l.snap
	p := &sparseHist{lowest: s.LowestTrackableValue, highest: s.HighestTrackableValue, sigFigs: s.SignificantFigures, ratio: s.IntegerToDoubleConversionRatio}
	for i, c := range s.Counts {
		if c != 0 {
			p.idx = append(p.idx, int32(i))
			p.counts = append(p.counts, c)
		}
	}
	l.snap, l.packed = nil, p
}

// latencies returns l's counts, whole, without expanding l.
func (l *liveStats) latencies() *hdrhistogram.Snapshot {
	if l.packed != nil {
		d, _ := l.packed.dense()
		return d
	}
	return l.snap
}

// expand undoes compact.
func (l *liveStats) expand() {
	if l.packed == nil {
		return
	}
	p := l.packed
	l.packed = nil
	if d, err := p.dense(); err == nil {
		l.snap = d
	}
}

// add adds s to l.
func (l *liveStats) add(s *Stats) {
	l.ops += s.Ops
	l.errs += s.Errors
	l.late += s.Late
	l.dropped += s.Dropped
	l.max = max(l.max, s.Latency.Max)
	for k, n := range s.ErrorsByKind {
		if l.kinds == nil {
			l.kinds, l.samples = map[string]int64{}, map[string]string{}
		}
		l.kinds[k] += n
		if l.samples[k] == "" {
			l.samples[k] = s.ErrorSamples[k]
		}
	}
	if s.Histogram != nil && s.Histogram.h != nil {
		l.addSnapshot(s.Histogram.h.Export())
	}
}

// addCounts adds s's counts (not its histogram) to l, and the latencies
// of h (s's histogram, decoded once for all the accumulators it goes to).
func (l *liveStats) addCounts(s *Stats, h *sparseHist) error {
	hist := s.Histogram
	s.Histogram = nil
	l.add(s)
	s.Histogram = hist
	if h != nil {
		return l.addSparse(h)
	}
	return nil
}

// addSnapshot adds o's counts to l's; l never keeps o itself.
func (l *liveStats) addSnapshot(o *hdrhistogram.Snapshot) {
	l.expand()
	switch {
	case l.snap == nil:
		c := *o
		c.Counts = slices.Clone(o.Counts)
		l.snap = &c
	case sameGeometry(l.snap, o):
		lo, hi := used(o.Counts)
		dst := l.snap.Counts[lo:hi]
		for i, c := range o.Counts[lo:hi] {
			dst[i] += c
		}
	default:
		// Another geometry (a histogram made elsewhere): the slow way.
		h := hdrhistogram.Import(l.snap)
		h.Merge(hdrhistogram.Import(o))
		l.snap = h.Export()
	}
}

// used returns the range of counts that are not zero: latencies take a
// few of a histogram's 2^n buckets, and the rest need no adding.
func used(counts []int64) (lo, hi int) {
	hi = len(counts)
	for hi > 0 && counts[hi-1] == 0 {
		hi--
	}
	for lo < hi && counts[lo] == 0 {
		lo++
	}
	return lo, hi
}

func sameGeometry(a, b *hdrhistogram.Snapshot) bool {
	return a.LowestTrackableValue == b.LowestTrackableValue && a.HighestTrackableValue == b.HighestTrackableValue &&
		a.SignificantFigures == b.SignificantFigures && len(a.Counts) == len(b.Counts) &&
		a.IntegerToDoubleConversionRatio == b.IntegerToDoubleConversionRatio
}

// merge adds o to l.
func (l *liveStats) merge(o *liveStats) {
	s := Stats{Ops: o.ops, Errors: o.errs, Late: o.late, Dropped: o.dropped, ErrorsByKind: o.kinds, ErrorSamples: o.samples}
	s.Latency.Max = o.max
	l.add(&s)
	if snap := o.latencies(); snap != nil {
		l.addSnapshot(snap)
	}
}

// stats turns l over a window of length d into Stats, with a histogram of
// their own.
func (l *liveStats) stats(d time.Duration) Stats {
	s := Stats{Ops: l.ops, Errors: l.errs, Duration: d, Late: l.late, Dropped: l.dropped}
	if len(l.kinds) > 0 {
		s.ErrorsByKind, s.ErrorSamples = maps.Clone(l.kinds), maps.Clone(l.samples)
	}
	if d > 0 {
		s.Throughput = float64(l.ops-l.errs) / d.Seconds()
	}
	if snap := l.latencies(); snap != nil {
		if h := hdrhistogram.Import(snap); h.TotalCount() > 0 {
			s.Histogram = &Histogram{h: h}
			s.Latency = latencyOf(h, l.max)
		}
	}
	return s
}

type thresholdStop struct {
	res ThresholdResult
	at  time.Time     // when it failed (wall clock of the orchestrator)
	in  time.Duration // how far into the measured window
}

// NewLiveMerge checks opts and returns a merge with nothing merged yet.
func NewLiveMerge(opts LiveOptions) (*LiveMerge, error) {
	if err := coordinate.ValidRunID(opts.RunID); err != nil {
		return nil, &ConfigError{Field: "LiveOptions.RunID", Reason: err.Error()}
	}
	if opts.Interval < 0 || opts.AbortGrace < 0 || opts.Poll < 0 {
		return nil, &ConfigError{Field: "LiveOptions", Reason: "Interval, AbortGrace and Poll must not be negative"}
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Poll == 0 {
		opts.Poll = opts.Interval / 4
	}
	m := &LiveMerge{
		opts: opts, q: max(opts.Interval/20, time.Millisecond), origin: opts.Start,
		buckets: map[bucketKey]*bucket{}, starts: map[int64]time.Time{}, nodes: map[string]*nodeStream{}, cum: map[string]*liveStats{},
	}
	for i, s := range opts.Thresholds {
		t, err := ParseThreshold(s)
		if err != nil {
			return nil, &ConfigError{Field: fmt.Sprintf("LiveOptions.Thresholds[%d]", i), Reason: err.Error()}
		}
		m.thresholds = append(m.thresholds, t)
	}
	for _, n := range opts.Nodes {
		m.node(n)
	}
	return m, nil
}

func (m *LiveMerge) node(name string) *nodeStream {
	ns := m.nodes[name]
	if ns == nil {
		ns = &nodeStream{seen: map[int64]bool{}}
		m.nodes[name] = ns
	}
	return ns
}

// Add merges one encoded record. A record of another run is an error; one
// already merged (the same node and seq) is ignored.
func (m *LiveMerge) Add(record []byte) error {
	rec, hists, err := decodeLive(record)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.add(rec, hists)
}

// liveRecord is a StreamRecord as the live merge reads it: histograms
// left encoded, for decodeSparse.
type liveRecord struct {
	StreamRecord
	Operations map[string]liveOp `json:"operations"`
}

type liveOp struct {
	Stats
	Histogram string `json:"histogram"`
}

// decodeLive decodes and checks a record, and its histograms sparse.
func decodeLive(b []byte) (*StreamRecord, map[string]*sparseHist, error) {
	var lr liveRecord
	if err := json.Unmarshal(b, &lr); err != nil {
		return nil, nil, fmt.Errorf("loadtest: stream record: %w", err)
	}
	rec := &lr.StreamRecord
	rec.Operations = make(map[string]Stats, len(lr.Operations))
	hists := make(map[string]*sparseHist, len(lr.Operations))
	for name, op := range lr.Operations {
		rec.Operations[name] = op.Stats
		if op.Histogram == "" {
			continue
		}
		h, err := decodeSparse(op.Histogram)
		if err != nil {
			return nil, nil, fmt.Errorf("loadtest: stream record %d of node %q: operations[%q]: %w", rec.Seq, rec.Node, name, err)
		}
		var n int64
		for _, c := range h.counts {
			n += c
		}
		if n != op.Ops-op.Errors {
			return nil, nil, fmt.Errorf("loadtest: stream record %d of node %q: operations[%q]: histogram holds %d latencies, want %d (ops less errors)", rec.Seq, rec.Node, name, n, op.Ops-op.Errors)
		}
		hists[name] = h
	}
	if err := rec.check(); err != nil {
		return nil, nil, err
	}
	return rec, hists, nil
}

func (m *LiveMerge) add(rec *StreamRecord, hists map[string]*sparseHist) error {
	if rec.RunID != m.opts.RunID {
		return fmt.Errorf("loadtest: live merge: record %d of node %q is of run %q, not %q", rec.Seq, rec.Node, rec.RunID, m.opts.RunID)
	}
	ns := m.node(rec.Node)
	if rec.Seq < ns.next || ns.seen[rec.Seq] {
		return nil
	}
	ns.seen[rec.Seq] = true
	for ns.seen[ns.next] {
		delete(ns.seen, ns.next)
		ns.next++
	}
	ns.workers = rec.Workers
	if rec.Marks != nil && ns.tl.Marks == nil {
		ns.tl = rec.timeline()
	}
	m.records++
	start := rec.Start()
	if m.origin.IsZero() {
		m.origin = start
	}
	if !start.Before(ns.last) {
		ns.last, ns.phase = start, rec.Interval.Phase
	}
	ph := inWarmup
	if rec.Interval.Phase == phaseNames[inMeasure] {
		ph = inMeasure
	}
	key := bucketKey{ph, int64(math.Round(float64(start.Sub(m.origin)) / float64(m.q)))}
	b := m.buckets[key]
	if b == nil {
		b = &bucket{key: key, nodes: map[string]bool{}, ops: map[string]*liveStats{}}
		m.buckets[key] = b
	}
	if ks, ok := m.starts[key.at]; !ok || start.Before(ks) {
		m.starts[key.at] = start
	}
	iv := &rec.Interval
	b.dur, b.elapsed, b.remain = max(b.dur, iv.Duration), max(b.elapsed, iv.Elapsed), max(b.remain, iv.Remaining)
	b.target += iv.Target
	b.late += iv.Late
	b.dropped += iv.Dropped
	if l := iv.Load; l != nil {
		if b.load == nil {
			b.load = &Load{}
		}
		b.load.Offered += l.Offered
		b.load.BacklogStart += l.BacklogStart
		b.load.BacklogEnd += l.BacklogEnd
		b.load.Overloaded = b.load.Overloaded || l.Overloaded
		b.tput += iv.Throughput
	}
	b.nodes[rec.Node] = true
	for _, name := range slices.Sorted(maps.Keys(rec.Operations)) {
		st := rec.Operations[name]
		h := hists[name]
		if !slices.Contains(m.ops, name) {
			m.ops = append(m.ops, name)
		}
		if ph == inMeasure {
			// The measured window so far, which thresholds are checked on.
			c := m.cum[name]
			if c == nil {
				c = new(liveStats)
				m.cum[name] = c
			}
			if err := errors.Join(c.addCounts(&st, h), m.cumAll.addCounts(&st, h)); err != nil {
				return err
			}
		}
		l := b.ops[name]
		if l == nil {
			l = new(liveStats)
			b.ops[name] = l
		}
		if err := l.addCounts(&st, h); err != nil {
			return err
		}
	}
	return nil
}

// from is the seq from which the source is read next: the lowest that a
// node still streaming may not have been read up to, but no more than
// StreamQueue behind the furthest node (a node that far behind has its
// records read at the end).
func (m *LiveMerge) from() int64 {
	lost := m.lostSet()
	lo, hi := int64(math.MaxInt64), int64(0)
	for name, ns := range m.nodes {
		hi = max(hi, ns.next)
		if !lost[name] {
			lo = min(lo, ns.next)
		}
	}
	if lo == math.MaxInt64 {
		lo = hi
	}
	return max(lo, hi-StreamQueue)
}

func (m *LiveMerge) lostSet() map[string]bool {
	out := map[string]bool{}
	if m.opts.Lost != nil {
		for _, n := range m.opts.Lost() {
			out[n] = true
		}
	}
	return out
}

// Poll reads what src holds since the last read and merges it, then
// completes the fleet intervals that are due (see Follow).
func (m *LiveMerge) Poll(ctx context.Context, src StreamSource) error {
	m.mu.Lock()
	from := m.from()
	m.mu.Unlock()
	err := m.read(ctx, src, from)
	m.complete(time.Now(), false)
	return err
}

// read merges the records of src from seq from on.
func (m *LiveMerge) read(ctx context.Context, src StreamSource, from int64) error {
	raw, err := src.Records(ctx, m.opts.RunID, from)
	if err != nil {
		return fmt.Errorf("loadtest: live merge: reading the stream of run %q: %w", m.opts.RunID, err)
	}
	var errs []error
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range raw {
		rec, hists, err := decodeLive(b)
		if err == nil {
			err = m.add(rec, hists)
		}
		if err != nil && len(errs) < 10 {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Follow reads src every Poll until ctx ends, merging what it reads and
// completing fleet intervals; then it reads the whole stream once more
// (bounded, as Collect's last read), so that nothing streamed is left
// out, and completes every interval. Read errors are retried at the next
// poll; the last one is returned if the final read fails too.
func (m *LiveMerge) Follow(ctx context.Context, src StreamSource) error {
	wait := backoff.Backoff{Initial: m.opts.Poll, Max: m.opts.Poll}
	var last error
	for {
		if err := m.Poll(ctx, src); err != nil && ctx.Err() == nil {
			last = err
		}
		if wait.Sleep(ctx) != nil {
			break
		}
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lastReadTimeout)
	defer cancel()
	err := m.read(lctx, src, 0)
	m.complete(time.Now(), true)
	if err != nil {
		return errors.Join(last, err)
	}
	return nil
}

// complete completes, in order, the fleet intervals that every expected
// node not lost has passed, or that ended more than two intervals (and a
// second) ago, or all of them at the end. A record that comes after its
// interval completed is merged all the same: Finish's intervals hold it.
func (m *LiveMerge) complete(now time.Time, all bool) {
	m.mu.Lock()
	lost := m.lostSet()
	var out []FleetInterval
	var abort *thresholdStop
	for _, b := range m.ordered() {
		if b.complete {
			continue
		}
		if !all && !m.due(b, now, lost) {
			break
		}
		b.complete = true
		fi := FleetInterval{Interval: m.interval(b), Nodes: len(b.nodes), Lost: len(lost)}
		for _, l := range b.ops {
			l.compact()
		}
		m.done = append(m.done, fi)
		out = append(out, fi)
		if b.key.phase == inMeasure {
			m.measured += b.dur
			if s := m.check(now); s != nil && abort == nil && !all {
				abort = s
			}
		}
	}
	m.mu.Unlock()
	for _, fi := range out {
		if m.opts.Progress != nil {
			fmt.Fprintln(m.opts.Progress, fleetLine(fi))
		}
		if m.opts.OnInterval != nil {
			m.opts.OnInterval(fi)
		}
	}
	if abort != nil && m.opts.OnAbort != nil {
		m.opts.OnAbort(abort.res)
	}
}

// due reports whether b can complete: every node expected and not lost has
// streamed an interval that started at or after b's, or b ended two
// intervals ago.
func (m *LiveMerge) due(b *bucket, now time.Time, lost map[string]bool) bool {
	start := m.starts[b.key.at]
	if now.Sub(start.Add(b.dur)) > max(2*m.opts.Interval, time.Second) {
		return true
	}
	for name, ns := range m.nodes {
		if lost[name] {
			continue
		}
		if ns.last.Before(start.Add(-m.q)) || (ns.last.Sub(start) < m.q && !b.nodes[name]) {
			return false
		}
	}
	return true
}

// ordered returns the buckets by start, the warmup before the measure.
func (m *LiveMerge) ordered() []*bucket {
	bs := slices.Collect(maps.Values(m.buckets))
	slices.SortFunc(bs, func(a, b *bucket) int {
		return cmp.Or(cmp.Compare(a.key.at, b.key.at), cmp.Compare(a.key.phase, b.key.phase))
	})
	return bs
}

// interval is bucket b as an Interval, Start from the origin.
func (m *LiveMerge) interval(b *bucket) Interval {
	var all liveStats
	iv := Interval{
		Start: m.starts[b.key.at].Sub(m.origin), Duration: b.dur, Phase: phaseNames[b.key.phase],
		Late: b.late, Dropped: b.dropped, Target: b.target, Elapsed: b.elapsed, Remaining: b.remain,
		Operations: make(map[string]IntervalOp, len(b.ops)),
	}
	for _, name := range m.ops {
		l := b.ops[name]
		if l == nil {
			continue
		}
		s := l.stats(b.dur)
		iv.Operations[name] = IntervalOp{Ops: s.Ops, Errors: s.Errors, Latency: s.Latency}
		if len(b.ops) == 1 {
			all = *l
		} else {
			all.merge(l)
		}
	}
	s := all.stats(b.dur)
	iv.Ops, iv.Errors, iv.Throughput, iv.Latency = s.Ops, s.Errors, s.Throughput, s.Latency
	if b.load != nil {
		// What completed inside the interval, as each node counted it
		// (the last one's operations include those completed after the
		// window, which its throughput leaves out). Overloaded if a node
		// was, or if the fleet's sums say so.
		iv.Throughput = b.tput
		l := *b.load
		l.judge(iv.Throughput, b.dur, DefaultOverloadTolerance)
		l.Overloaded = l.Overloaded || b.load.Overloaded
		iv.Load = &l
	}
	return iv
}

// check checks the thresholds on the measured window so far, under
// AbortOnFail past the grace, and returns the first that failed, once.
func (m *LiveMerge) check(now time.Time) *thresholdStop {
	if !m.opts.AbortOnFail || m.stop != nil || len(m.thresholds) == 0 || m.measured < m.opts.AbortGrace {
		return nil
	}
	res := m.measuredResult()
	for _, t := range m.thresholds {
		if numberMetrics[t.Metric] {
			// achieved_ratio and backlog need the schedule's counts, which
			// the streamed intervals do not add up to exactly: they are
			// checked on the merged result at the end, never live.
			continue
		}
		if r := t.Check(res); !r.OK {
			m.stop = &thresholdStop{res: r, at: now, in: m.measured}
			return m.stop
		}
	}
	return nil
}

// measuredResult is the merged measured window so far, as a Result that
// thresholds are checked on.
func (m *LiveMerge) measuredResult() *Result {
	res := &Result{Operations: make(map[string]Stats, len(m.cum))}
	res.Phases.Measure = m.cumAll.stats(m.measured)
	for name, c := range m.cum {
		res.Operations[name] = c.stats(m.measured)
	}
	return res
}

// Forming returns the merged result as it is forming, for a live view of
// the startup (report.WriteFleetHTML): the orchestrator's timeline and
// every expected node's startup as its first record gave it, on one axis,
// with Workers and Start; no statistics.
func (m *LiveMerge) Forming(orch timing.Timeline) *Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := &Result{RunID: m.opts.RunID, Node: "merged"}
	timelines := []timing.Timeline{orch}
	for _, name := range slices.Sorted(maps.Keys(m.nodes)) {
		tl := m.nodes[name].tl
		tl.Node = name
		if tl.Marks != nil {
			timelines = append(timelines, tl)
		}
		res.Workers = append(res.Workers, WorkerTimeline{
			Node: name, StartedAt: tl.Anchor, ClockOffset: tl.ClockOffset, ClockError: tl.ClockError, Marks: tl.Marks,
		})
	}
	res.Timeline = timing.Merge(timelines...)
	res.StartedAt = res.Timeline.Anchor
	res.Start = startReport(res.Timeline, orch.Node, res.Workers)
	return res
}

// Intervals returns the fleet intervals completed so far, in order.
func (m *LiveMerge) Intervals() []FleetInterval {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.done)
}

// Phase returns the phase (timing.Warmup or timing.Measure) of the latest
// interval that node streamed, and false when none has arrived: what the
// node is doing, as its stream says, for a live view (a node's
// coordinator reports its state, not the moment its warmup ends).
func (m *LiveMerge) Phase(node string) (timing.Phase, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ns := m.nodes[node]
	if ns == nil || ns.last.IsZero() {
		return "", false
	}
	return ns.phase, true
}

// Stopped returns the threshold that stopped the run, if one did.
func (m *LiveMerge) Stopped() (ThresholdResult, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stop == nil {
		return ThresholdResult{}, false
	}
	return m.stop.res, true
}

// fleetLine is the progress line of one fleet interval.
func fleetLine(fi FleetInterval) string {
	f := timing.FormatDuration
	line := fmt.Sprintf("fleet %-7s %6s  nodes %d running, %d lost  %8.0f ops/s  p50 %-8s p99 %-8s errors %d",
		fi.Phase, f(fi.Elapsed), fi.Nodes, fi.Lost, fi.Throughput, f(fi.Latency.P50), f(fi.Latency.P99), fi.Errors)
	if l := fi.Load; l != nil {
		line += fmt.Sprintf("  offered %.0f/s  backlog %d", l.OfferedPerS, l.BacklogEnd)
		if l.Overloaded {
			line += "  OVERLOADED: not keeping up"
		}
	}
	return strings.TrimRight(line, " ")
}

// Finish merges the nodes' results with the orchestrator's timeline (see
// MergeWith) and what the stream adds to them: the partial result of each
// node of lost, rebuilt from the records it streamed (read again from src)
// and marked lost in Workers, at the instant its coord.lost mark gives;
// the fleet's intervals as Intervals; the fleet's thresholds, checked on
// the merged result; the threshold that stopped the run, if one did, in
// Stopped and as a coord.threshold mark; and every node's stream counts
// added up in Stream. Call it after Follow has returned.
func (m *LiveMerge) Finish(ctx context.Context, src StreamSource, orch timing.Timeline, results []*Result, lost []string) (*Result, error) {
	all := slices.Clone(results)
	if len(lost) > 0 && src != nil {
		partials, err := m.rebuild(ctx, src, lost, results)
		if err != nil {
			return nil, err
		}
		all = append(all, partials...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: no results and no streamed intervals", ErrMerge)
	}
	m.mu.Lock()
	stop := m.stop
	// Every bucket, complete or not, with every record merged into it,
	// also those that came after its progress line.
	var done []Interval
	for _, b := range m.ordered() {
		done = append(done, m.interval(b))
	}
	origin := m.origin
	m.mu.Unlock()
	if stop != nil && !orch.Anchor.IsZero() {
		orch.Marks = append(slices.Clone(orch.Marks), timing.Mark{
			Node: orch.Node, Phase: timing.CoordThreshold, Worker: timing.Process,
			Start: stop.at.Sub(orch.Anchor), End: stop.at.Sub(orch.Anchor),
			Detail: thresholdDetail(stop),
		})
	}
	merged, err := MergeWith(orch, all...)
	if err != nil {
		return nil, err
	}
	lostAt := map[string]time.Duration{}
	for _, mk := range merged.Timeline.Marks {
		if mk.Phase == timing.CoordLost {
			if _, ok := lostAt[mk.Node]; !ok {
				lostAt[mk.Node] = mk.Start
			}
		}
	}
	for i := range merged.Workers {
		w, r := &merged.Workers[i], all[i]
		ph := r.Phases
		ph.Warmup.Histogram, ph.Measure.Histogram = nil, nil // the merged result's phases hold them
		w.Phases = &ph
		if slices.Contains(lost, w.Node) {
			w.Lost = true
			if at, ok := lostAt[w.Node]; ok {
				w.LostAt = &at
			}
		}
	}
	if len(done) > 0 {
		shift := origin.Sub(merged.StartedAt)
		merged.Intervals = make([]Interval, len(done))
		for i, iv := range done {
			merged.Intervals[i] = iv
			merged.Intervals[i].Start += shift
		}
	}
	for _, r := range results {
		if r.Stream == nil {
			continue
		}
		if merged.Stream == nil {
			merged.Stream = &StreamStats{}
		}
		s := merged.Stream
		s.Records += r.Stream.Records
		s.Sent += r.Stream.Sent
		s.Dropped += r.Stream.Dropped
		s.Unsent += r.Stream.Unsent
		if s.Err == "" && r.Stream.Err != "" {
			s.Err = r.Node + ": " + r.Stream.Err
		}
	}
	merged.Thresholds = evaluate(m.thresholds, merged)
	if stop != nil {
		why := "threshold " + thresholdDetail(stop)
		if merged.Stopped != "" {
			why += "; " + merged.Stopped
		}
		merged.Stopped = why
	}
	return merged, nil
}

// thresholdDetail says which threshold stopped the run, and when.
func thresholdDetail(s *thresholdStop) string {
	return fmt.Sprintf("%s failed %s into the measured window (measured %s): run aborted",
		s.res.Name, timing.FormatDuration(s.in), formatValue(s.res.Name, s.res.Value))
}

// rebuild returns the partial result of each node of lost that streamed,
// from its records in src; a node that has a result in results is left
// out.
func (m *LiveMerge) rebuild(ctx context.Context, src StreamSource, lost []string, results []*Result) ([]*Result, error) {
	// Bounded, and made even when ctx has ended (as Collect's last read):
	// what a lost node streamed is kept if it can be read at all.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lastReadTimeout)
	defer cancel()
	raw, err := src.Records(ctx, m.opts.RunID, 0)
	if err != nil {
		return nil, fmt.Errorf("loadtest: live merge: reading the stream of the lost nodes: %w", err)
	}
	byNode := map[string]map[int64]*StreamRecord{}
	for _, n := range lost {
		if !slices.ContainsFunc(results, func(r *Result) bool { return r.Node == n }) {
			byNode[n] = map[int64]*StreamRecord{}
		}
	}
	for _, b := range raw {
		rec, err := DecodeStreamRecord(b)
		if err != nil || rec.RunID != m.opts.RunID {
			continue // Follow has reported it
		}
		if recs, ok := byNode[rec.Node]; ok && recs[rec.Seq] == nil {
			recs[rec.Seq] = rec
		}
	}
	var out []*Result
	for _, n := range slices.Sorted(maps.Keys(byNode)) {
		if recs := byNode[n]; len(recs) > 0 {
			out = append(out, partialResult(n, recs, results))
		}
	}
	return out, nil
}

// partialResult rebuilds a lost node's result from its records: its
// phases, operations and intervals as far as it streamed them.
func partialResult(node string, recs map[int64]*StreamRecord, results []*Result) *Result {
	seqs := slices.Sorted(maps.Keys(recs))
	first := recs[seqs[0]]
	res := &Result{
		RunID: first.RunID, Node: node, StartedAt: first.StartedAt,
		Timeline: first.timeline(),
		Stopped:  fmt.Sprintf("lost: rebuilt from the %d intervals it streamed", len(seqs)),
	}
	if len(results) > 0 {
		res.Config = results[0].Config
	}
	res.Config.Workers, res.Config.Conns = first.Workers, first.Conns
	var phases [2]liveStats
	var windows [2]time.Duration
	ops := map[string]*liveStats{}
	wops := map[string]*liveStats{}
	for _, s := range seqs {
		rec := recs[s]
		ph := inWarmup
		if rec.Interval.Phase == phaseNames[inMeasure] {
			ph = inMeasure
		}
		windows[ph] += rec.Interval.Duration
		res.Intervals = append(res.Intervals, rec.Interval)
		for _, name := range slices.Sorted(maps.Keys(rec.Operations)) {
			st := rec.Operations[name]
			phases[ph].add(&st)
			by := ops
			if ph == inWarmup {
				by = wops
			}
			if by[name] == nil {
				by[name] = new(liveStats)
			}
			by[name].add(&st)
		}
	}
	res.Phases.Warmup = phases[inWarmup].stats(windows[inWarmup])
	res.Phases.Measure = phases[inMeasure].stats(windows[inMeasure])
	res.Operations = make(map[string]Stats, len(ops))
	for name, l := range ops {
		res.Operations[name] = l.stats(windows[inMeasure])
	}
	for name, l := range wops {
		if res.WarmupOperations == nil {
			res.WarmupOperations = map[string]Stats{}
		}
		res.WarmupOperations[name] = l.stats(windows[inWarmup])
	}
	return res
}

// Measured is the threshold's measured value in its metric's unit, as the
// text report shows it: a duration for a latency, else a number.
func (r ThresholdResult) Measured() string { return formatValue(r.Name, r.Value) }
