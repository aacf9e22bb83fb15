package loadtest

import (
	"cmp"
	"context"
	"math/bits"
	"slices"
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/timing"
)

// DefaultHistoryLimit is the default of Config.HistoryLimit: the most
// statements a Runner reads back from a pool.StatementHistory after a run.
const DefaultHistoryLimit = 50_000

// The server's split.
//
// A pool that is a pool.StatementHistory (Snowflake, whose QUERY_HISTORY
// times every statement) is read once after the run, in the span
// server.history: after teardown, before the sinks are written, never
// while the workers run. Each statement it returns names the worker, the
// phase and the operation that ran it (the Runner tags the worker's
// session with them through pool.PhaseTagger before every operation whose
// phase or operation changed), and carries the server's parts of its
// time.
//
// The server's parts are matched to operations by that tag: no join is
// needed for them. client_ns, startline's latency minus the server's
// elapsed time, needs each statement's own latency, which the Runner does
// not otherwise keep (it keeps histograms). So while a run has a pool
// that is a StatementHistory, each worker keeps its last operations in a
// ring per phase (latency, operation, failed), preallocated before the
// start: one 16-byte store per operation, no allocation, sized so that
// the rings of all workers hold Config.HistoryLimit operations per phase.
// After the run, a worker's operations of one phase and operation are
// matched to its statements of that tag in order, from the newest back:
// a worker runs one operation at a time, and the history orders its
// statements by their start. An operation that failed without a statement
// (the connection was lost before it was sent) is passed over; a failure
// on one side only, or a server's time longer than startline's latency
// (beyond the history's resolution), means the two no longer line up, and
// the older ones of that worker, phase and operation get no client_ns. So
// client_ns is exact for workloads of one statement per operation, the
// operations QueryOp makes; for an operation of several statements (or
// none) it is left out, and its count (n) says for how many it is known.
//
// Distributions are over the successful statements matched; each keeps
// its HdrHistogram (2 significant digits: the history's times are whole
// milliseconds), so that the results of many processes merge exactly:
// counts and sums add, and the percentiles come from the merged
// histograms.

// ServerSplit is the server's account of the statements of one phase, or
// of one operation in one phase, beside what startline measured of them.
//
// Statements are matched to their operation and phase by the tag the
// Runner gave their session (pool.PhaseTagger). Client is computed per
// statement, by order: a worker runs one operation at a time, so its
// operations of one phase and operation, newest first, pair with its
// statements of that tag, newest first. An operation that failed without
// a statement is passed over; where the two disagree (a failure on one
// side only, or a server's time longer than startline's latency beyond
// the history's resolution) the older ones get no client time. So Client
// covers every statement of a workload of one statement per operation (as
// QueryOp makes), and Client.N says how many it covers otherwise. The
// distributions are over the matched statements that succeeded; on a
// merged result they merge exactly (counts and sums add, percentiles come
// from the merged histograms, kept to 2 significant digits: the history's
// times are whole milliseconds).
type ServerSplit struct {
	// Queries is startline's count of the operations (Stats.Ops).
	Queries int64 `json:"queries"`
	// Matched counts the statements found in the server's history.
	Matched int64 `json:"matched"`
	// Sampled says that the history was read only in part (the read
	// stopped at Config.HistoryLimit): Matched then counts what was read.
	Sampled bool `json:"sampled"`
	// Failed counts the matched statements that failed on the server;
	// CacheHits those answered from its result cache, without running.
	Failed    int64 `json:"failed"`
	CacheHits int64 `json:"cache_hits"`
	// The parts of the successful statements' time, as the server split
	// it: waiting for compute to be provisioned (a warehouse resuming) or
	// for a free slot, compiling, executing; Elapsed is the server's whole
	// time (it may hold more than the parts).
	QueuedProvisioning ServerDist `json:"queued_provisioning_ns"`
	QueuedOverload     ServerDist `json:"queued_overload_ns"`
	Compilation        ServerDist `json:"compilation_ns"`
	Execution          ServerDist `json:"execution_ns"`
	Elapsed            ServerDist `json:"elapsed_ns"`
	// Client is startline's latency minus the server's elapsed time, per
	// statement: the network, the driver and the harness.
	Client ServerDist `json:"client_ns"`
}

// ServerDist is a distribution of durations, in nanoseconds in JSON.
type ServerDist struct {
	N   int64         `json:"n"`
	P50 time.Duration `json:"p50"`
	P99 time.Duration `json:"p99"`
	Sum time.Duration `json:"sum"`
	// Histogram holds every value, so that distributions merge exactly.
	Histogram *Histogram `json:"histogram,omitempty"`
}

// Mean is Sum/N, or zero when N is.
func (d ServerDist) Mean() time.Duration {
	if d.N == 0 {
		return 0
	}
	return d.Sum / time.Duration(d.N)
}

func newServerHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, int64(maxLatency), 2) }

// add records v.
func (d *ServerDist) add(v time.Duration) {
	if d.Histogram == nil {
		d.Histogram = &Histogram{h: newServerHist()}
	}
	_ = d.Histogram.h.RecordValue(inRange(int64(v))) // cannot fail: within range
	d.N++
	d.Sum += v
}

// summarize sets the percentiles from the histogram.
func (d *ServerDist) summarize() {
	if d.Histogram == nil || d.Histogram.h == nil || d.Histogram.h.TotalCount() == 0 {
		d.P50, d.P99 = 0, 0
		return
	}
	d.P50, d.P99 = d.Histogram.Quantile(50), d.Histogram.Quantile(99)
}

// mergeDist adds a and b into a new distribution.
func mergeDist(a, b ServerDist) ServerDist {
	out := ServerDist{N: a.N + b.N, Sum: a.Sum + b.Sum}
	for _, d := range []ServerDist{a, b} {
		if d.Histogram != nil && d.Histogram.h != nil {
			if out.Histogram == nil {
				out.Histogram = &Histogram{h: newServerHist()}
			}
			out.Histogram.Merge(d.Histogram)
		}
	}
	out.summarize()
	return out
}

// dists returns the split's distributions, for code that treats them alike.
func (s *ServerSplit) dists() []*ServerDist {
	return []*ServerDist{&s.QueuedProvisioning, &s.QueuedOverload, &s.Compilation, &s.Execution, &s.Elapsed, &s.Client}
}

// mergeServer adds two splits (either may be nil) into a new one:
// counts and sums add, percentiles come from the merged histograms.
func mergeServer(a, b *ServerSplit) *ServerSplit {
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil:
		a = &ServerSplit{}
	case b == nil:
		b = &ServerSplit{}
	}
	out := &ServerSplit{
		Queries: a.Queries + b.Queries, Matched: a.Matched + b.Matched, Sampled: a.Sampled || b.Sampled,
		Failed: a.Failed + b.Failed, CacheHits: a.CacheHits + b.CacheHits,
	}
	ad, bd := a.dists(), b.dists()
	for i, d := range out.dists() {
		*d = mergeDist(*ad[i], *bd[i])
	}
	return out
}

// trail is one worker's last operations of each phase, in order, kept for
// the join with the server's history (see The server's split above). Only
// its worker writes it, and only the Runner reads it, after the workers
// stopped.
type trail struct {
	ring [2][]trailEntry // a power of two each
	n    [2]uint64       // operations recorded; the ring holds the last len(ring)
}

type trailEntry struct {
	lat    time.Duration
	op     int32
	failed bool
}

// newTrail returns a trail that keeps the last size (rounded up to a power
// of two) operations of each phase.
func newTrail(size int) *trail {
	size = 1 << bits.Len(uint(max(size, 2)-1))
	return &trail{ring: [2][]trailEntry{make([]trailEntry, size), make([]trailEntry, size)}}
}

// add records an operation of op in phase that took d; the hot path.
func (t *trail) add(phase, op int, d time.Duration, failed bool) {
	r := t.ring[phase]
	r[t.n[phase]&uint64(len(r)-1)] = trailEntry{lat: d, op: int32(op), failed: failed}
	t.n[phase]++
}

// byOp returns the phase's kept operations of each operation, oldest first.
func (t *trail) byOp(phase, nops int) [][]trailEntry {
	out := make([][]trailEntry, nops)
	r, n := t.ring[phase], t.n[phase]
	kept := min(n, uint64(len(r)))
	for i := n - kept; i < n; i++ {
		e := r[i&uint64(len(r)-1)]
		out[e.op] = append(out[e.op], e)
	}
	return out
}

// trailSize is how many operations of each phase each worker keeps: enough
// that all workers together keep the most statements the history is read
// for.
func (cfg *Config) trailSize() int {
	workers := max(cfg.maxWorkers(), 1)
	return max(8, (cfg.HistoryLimit+workers-1)/workers)
}

// readServer reads the pool's statement history of the run, as the span
// server.history: after teardown, before the result is built. It returns
// nil when there is nothing to read (no StatementHistory, the read turned
// off, a run that never started or was cancelled) or the read failed, which
// is logged and left on the span as its error.
func (ru *run) readServer(ctx context.Context) *pool.History {
	if ru.history == nil || ru.cfg.HistoryLimit < 0 || !ru.started || ctx.Err() != nil {
		return nil
	}
	var expect int64
	for ph := range ru.col.agg {
		for i := range ru.col.agg[ph] {
			t := &ru.col.agg[ph][i]
			expect += t.count() - t.errs
		}
	}
	q := pool.HistoryQuery{
		From: ru.rec.Time(ru.startAt), To: ru.rec.Time(ru.rec.Now()),
		Limit: ru.cfg.HistoryLimit, Expect: expect,
	}
	start := ru.rec.Now()
	ru.hooks.start(timing.ServerHistory, timing.Process, start)
	h, err := ru.history.Statements(ctx, q)
	end := ru.rec.Now()
	m := timing.Mark{Phase: timing.ServerHistory, Worker: timing.Process, Start: start, End: end,
		Detail: "statements=" + strconv.Itoa(len(h.Statements))}
	if h.Truncated {
		m.Detail += " sampled"
	}
	if err != nil {
		m.Err = err.Error()
		ru.cfg.Logger.Warn("reading the server's statement history failed", "err", err)
	}
	ru.rec.Record(m)
	ru.hooks.done(timing.ServerHistory, timing.Process, start, end, err)
	if err != nil {
		return nil
	}
	return &h
}

// joinServer puts the server's split of h into res: per operation of each
// phase, and per phase.
func (ru *run) joinServer(res *Result, h *pool.History) {
	if h == nil {
		return
	}
	ops := ru.cfg.Workload.Operations
	opIndex := make(map[string]int, len(ops))
	for i, op := range ops {
		opIndex[op.Name] = i
	}
	// The statements of each worker, phase and operation, oldest first.
	type key struct{ worker, phase, op int }
	groups := map[key][]*pool.StatementTiming{}
	for i := range h.Statements {
		st := &h.Statements[i]
		ph := slices.Index(phaseNames[:], timing.Phase(st.Phase))
		op, ok := opIndex[st.Operation]
		if ph < 0 || !ok || st.Worker < 0 {
			continue
		}
		k := key{st.Worker, ph, op}
		groups[k] = append(groups[k], st)
	}
	var splits [2][]ServerSplit
	for ph := range splits {
		splits[ph] = make([]ServerSplit, len(ops))
	}
	trails := map[[2]int][][]trailEntry{} // by worker and phase
	for k, sts := range groups {
		slices.SortStableFunc(sts, func(a, b *pool.StatementTiming) int {
			return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Elapsed, b.Elapsed))
		})
		sp := &splits[k.phase][k.op]
		for _, st := range sts {
			sp.Matched++
			switch {
			case st.Failed:
				sp.Failed++
				continue
			case st.CacheHit:
				sp.CacheHits++
			}
			sp.QueuedProvisioning.add(st.QueuedProvisioning)
			sp.QueuedOverload.add(st.QueuedOverload)
			sp.Compilation.add(st.Compilation)
			sp.Execution.add(st.Execution)
			sp.Elapsed.add(st.Elapsed)
		}
		if k.worker >= len(ru.workers) || ru.workers[k.worker].trail == nil {
			continue
		}
		tk := [2]int{k.worker, k.phase}
		byOp, ok := trails[tk]
		if !ok {
			byOp = ru.workers[k.worker].trail.byOp(k.phase, len(ops))
			trails[tk] = byOp
		}
		alignClient(byOp[k.op], sts, h.Resolution, sp.Client.add)
	}
	for ph, stats := range []map[string]Stats{res.Operations, res.WarmupOperations} {
		phase := inMeasure - ph // Operations is the measure's
		var all *ServerSplit
		for i, op := range ops {
			s, ok := stats[op.Name]
			if !ok {
				continue
			}
			sp := splits[phase][i]
			sp.Queries, sp.Sampled = s.Ops, h.Truncated
			for _, d := range sp.dists() {
				d.summarize()
			}
			s.Server = &sp
			stats[op.Name] = s
			all = mergeServer(all, &sp)
		}
		if all != nil {
			ps := &res.Phases.Measure
			if phase == inWarmup {
				ps = &res.Phases.Warmup
			}
			all.Queries = ps.Ops
			ps.Server = all
		}
	}
}

// alignClient matches a worker's operations of one phase and operation
// (oldest first) to its statements of that tag (oldest first), from the
// newest back, and calls add with each successful one's client time: its
// latency minus the server's elapsed time. It stops where the two no
// longer line up (see The server's split above); res is the history's
// resolution, by which a server's time may exceed the latency.
func alignClient(ops []trailEntry, sts []*pool.StatementTiming, res time.Duration, add func(time.Duration)) {
	i, j := len(ops)-1, len(sts)-1
	for i >= 0 && j >= 0 {
		o, st := ops[i], sts[j]
		switch {
		case o.failed && !st.Failed:
			i-- // failed before it reached the server
			continue
		case o.failed != st.Failed, st.Elapsed > o.lat+res:
			return
		}
		if !o.failed {
			add(max(0, o.lat-st.Elapsed))
		}
		i--
		j--
	}
}
