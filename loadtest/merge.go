package loadtest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/startline/startline/timing"
)

// ErrMerge is wrapped by the errors Merge returns.
var ErrMerge = errors.New("loadtest: merge")

// WorkerTimeline is one process's part of a merged result: its own
// timeline, as it recorded it, with its clock offset against the reference
// clock, and where its start fell on the merged axis.
type WorkerTimeline struct {
	Node string `json:"node"`
	// StartedAt is the anchor of Marks, on the process's own clock.
	StartedAt   time.Time     `json:"started_at"`
	ClockOffset time.Duration `json:"clock_offset_ns"`
	ClockError  time.Duration `json:"clock_error_ns"`
	Marks       []timing.Mark `json:"timeline"`
	// Saw is when the process saw the start signal, on the merged axis;
	// nil when no orchestrator timeline recorded it.
	Saw *time.Duration `json:"saw_ns,omitempty"`
	// FirstQuery is when its earliest first query started, on the merged
	// axis; nil if it never ran one.
	FirstQuery *time.Duration `json:"first_query_ns,omitempty"`
	// Phases are the process's own warmup and measure statistics, without
	// their histograms; set by LiveMerge.Finish.
	Phases *Phases `json:"phases,omitempty"`
	// Lost says the process was declared lost, at LostAt on the merged
	// axis (its coord.lost mark): its statistics are what it streamed
	// before (see LiveMerge.Finish).
	Lost   bool           `json:"lost,omitempty"`
	LostAt *time.Duration `json:"lost_ns,omitempty"`
}

// StartReport says how the start went, on the merged axis (offsets from
// the merged result's started_at).
type StartReport struct {
	// Published is when the orchestrator published the start; nil without
	// an orchestrator timeline.
	Published *time.Duration `json:"published_ns,omitempty"`
	// At is the start instant T.
	At time.Duration `json:"at_ns"`
	// Skew is how far apart the first queries of all workers (every
	// goroutine of every process) started: latest minus earliest.
	Skew time.Duration `json:"skew_ns"`
	// SignalToFirstQuery spreads the gap from T to each worker's first
	// query: {"min","p50","max"} in JSON.
	SignalToFirstQuery timing.Spread `json:"signal_to_first_query_ns"`
	// Workers counts the workers with a first query.
	Workers int `json:"workers"`
	// Longest is the longest process-level span on the path to the first
	// query (see timing.Summary.Longest).
	Longest *timing.Mark `json:"longest,omitempty"`
	// Coordinator names the coordinator backend that started the run
	// ("local", "sql", "pgnotify", "nats"), as the orchestrator's
	// timing.CoordPublish mark says it ("coordinator=sql"); empty without
	// an orchestrator timeline.
	Coordinator string `json:"coordinator,omitempty"`
}

// Merge merges the results of several processes of one run; see MergeWith.
func Merge(results ...*Result) (*Result, error) { return MergeWith(timing.Timeline{}, results...) }

// MergeWith merges the results of several processes of one run into one,
// with the orchestrator's timeline (which may be empty).
//
// Timelines go on one axis with timing.Merge (each aligned by its measured
// clock offset). Statistics merge exactly: counts add up and latency
// quantiles come from the sum of the histograms, never from averaging the
// processes' quantiles; a window's Duration is the longest of the
// processes' (their windows run together), and throughput is the
// successful operations over it. Config adds up Workers and Conns and keeps
// the first result's other fields. Workers lists each process's own
// timeline; Start reports the start (nil when no timeline holds the start
// instant, coord.start).
//
// The results must share a RunID; nil results and an empty list are errors
// wrapping ErrMerge.
func MergeWith(orchestrator timing.Timeline, results ...*Result) (*Result, error) {
	if len(results) == 0 {
		return nil, fmt.Errorf("%w: no results", ErrMerge)
	}
	for i, r := range results {
		if r == nil {
			return nil, fmt.Errorf("%w: results[%d] is nil", ErrMerge, i)
		}
		if r.RunID != results[0].RunID {
			return nil, fmt.Errorf("%w: results[%d] has run id %q, results[0] %q", ErrMerge, i, r.RunID, results[0].RunID)
		}
	}
	first := results[0]
	out := &Result{RunID: first.RunID, Node: "merged", Config: first.Config}
	out.Config.Workers, out.Config.Conns = 0, 0
	timelines := []timing.Timeline{orchestrator}
	var stopped, errs []string
	for _, r := range results {
		tl := r.Timeline
		if tl.Node == "" {
			tl.Node = r.Node
		}
		timelines = append(timelines, tl)
		out.Config.Workers += r.Config.Workers
		out.Config.Conns += r.Config.Conns
		out.Config.WritesAfterSignal = out.Config.WritesAfterSignal || r.Config.WritesAfterSignal
		out.Phases.Warmup = mergeStats(out.Phases.Warmup, r.Phases.Warmup)
		out.Phases.Measure = mergeStats(out.Phases.Measure, r.Phases.Measure)
		out.Operations = mergeOps(out.Operations, r.Operations)
		out.WarmupOperations = mergeOps(out.WarmupOperations, r.WarmupOperations)
		if r.Stopped != "" {
			stopped = append(stopped, r.Node+": "+r.Stopped)
		}
		if r.Error != "" {
			errs = append(errs, r.Node+": "+r.Error)
		}
		out.Workers = append(out.Workers, WorkerTimeline{
			Node: r.Node, StartedAt: r.StartedAt,
			ClockOffset: r.Timeline.ClockOffset, ClockError: r.Timeline.ClockError,
			Marks: r.Timeline.Marks,
		})
	}
	// The warmup's end is the same for all only if every process says so.
	out.Phases.Warmup.EndedBy = first.Phases.Warmup.EndedBy
	for _, r := range results {
		if r.Phases.Warmup.EndedBy != out.Phases.Warmup.EndedBy {
			out.Phases.Warmup.EndedBy = ""
		}
		out.Phases.Warmup.Examined = max(out.Phases.Warmup.Examined, r.Phases.Warmup.Examined)
	}
	// The schedule's counts added up; whether the fleet kept up is judged
	// again on the sums.
	if tol := out.Config.OverloadTolerance; tol > 0 {
		rejudge(&out.Phases.Warmup, tol)
		rejudge(&out.Phases.Measure, tol)
		for _, m := range []map[string]Stats{out.Operations, out.WarmupOperations} {
			for name, s := range m {
				rejudge(&s, tol)
				m[name] = s
			}
		}
	}
	out.Stopped, out.Error = strings.Join(stopped, "; "), strings.Join(errs, "; ")
	out.Timeline = timing.Merge(timelines...)
	out.StartedAt = out.Timeline.Anchor
	out.Start = startReport(out.Timeline, orchestrator.Node, out.Workers)
	return out, nil
}

// startReport reads the start from the merged timeline tl, and fills in
// each worker's Saw and FirstQuery. The statistics of the start are
// timing.Summarize's, from the start instant chosen here.
func startReport(tl timing.Timeline, orchestrator string, workers []WorkerTimeline) *StartReport {
	var at *timing.Mark
	var published *time.Duration
	var coordinator string
	saw := map[string]time.Duration{}
	firstByNode := map[string]time.Duration{}
	for i, m := range tl.Marks {
		switch m.Phase {
		case timing.CoordStart:
			// The orchestrator's T is the one it published; otherwise
			// the earliest of the workers' (they differ by their offsets'
			// errors).
			if at == nil || (m.Node == orchestrator && orchestrator != "") || (at.Node != orchestrator && m.Start < at.Start) {
				at = &tl.Marks[i]
			}
		case timing.CoordPublish:
			if published == nil {
				p := m.Start
				published = &p
				coordinator, _ = strings.CutPrefix(m.Detail, "coordinator=")
			}
		case timing.CoordSeen:
			saw[m.Node] = m.Start
		case timing.QueryFirst:
			if f, ok := firstByNode[m.Node]; !ok || m.Start < f {
				firstByNode[m.Node] = m.Start
			}
		}
	}
	for i := range workers {
		if v, ok := saw[workers[i].Node]; ok {
			workers[i].Saw = &v
		}
		if v, ok := firstByNode[workers[i].Node]; ok {
			workers[i].FirstQuery = &v
		}
	}
	if at == nil {
		return nil
	}
	s := timing.SummarizeFrom(tl, *at)
	return &StartReport{
		Published: published, At: at.Start,
		Skew: s.Skew, SignalToFirstQuery: s.FirstQuery, Workers: s.Workers, Longest: s.Longest,
		Coordinator: coordinator,
	}
}

// mergeOps merges per-operation statistics by name.
func mergeOps(into, from map[string]Stats) map[string]Stats {
	if len(from) == 0 {
		return into
	}
	if into == nil {
		into = make(map[string]Stats, len(from))
	}
	for _, name := range slices.Sorted(maps.Keys(from)) {
		into[name] = mergeStats(into[name], from[name])
	}
	return into
}

// mergeStats adds b to a, exactly: counts add, histograms merge (into a new
// one, leaving both inputs untouched).
func mergeStats(a, b Stats) Stats {
	out := Stats{
		Ops: a.Ops + b.Ops, Errors: a.Errors + b.Errors,
		Late: a.Late + b.Late, Dropped: a.Dropped + b.Dropped,
		Duration: max(a.Duration, b.Duration),
		Server:   mergeServer(a.Server, b.Server),
	}
	// The queueing delay is kept only as a summary, which cannot be merged
	// exactly, so a merged result leaves it out rather than guess.
	for _, s := range []Stats{a, b} {
		for _, kind := range slices.Sorted(maps.Keys(s.ErrorsByKind)) {
			if out.ErrorsByKind == nil {
				out.ErrorsByKind, out.ErrorSamples = map[string]int64{}, map[string]string{}
			}
			out.ErrorsByKind[kind] += s.ErrorsByKind[kind]
			if out.ErrorSamples[kind] == "" {
				out.ErrorSamples[kind] = s.ErrorSamples[kind]
			}
		}
	}
	if a.Histogram != nil || b.Histogram != nil {
		h := &Histogram{h: newHist()}
		for _, s := range []Stats{a, b} {
			if s.Histogram != nil && s.Histogram.h != nil {
				h.Merge(s.Histogram)
			}
		}
		out.Histogram = h
		out.Latency = latencyOf(h.h, max(a.Latency.Max, b.Latency.Max))
	}
	var after int64
	if a.Schedule != nil || b.Schedule != nil {
		sc := &Schedule{}
		for _, s := range []Stats{a, b} {
			if s.Schedule != nil {
				sc.Offered += s.Offered
				sc.CompletedAfter += s.CompletedAfter
				sc.CarriedIn += s.CarriedIn
				sc.BacklogStart += s.BacklogStart
				sc.BacklogEnd += s.BacklogEnd
				sc.Overloaded = sc.Overloaded || s.Overloaded
			}
		}
		out.Schedule = sc
		// What completed after the window is not in the throughput; the
		// successful share of it is not kept, so the merge takes it all
		// out, as each process did.
		after = sc.CompletedAfter - sc.CarriedIn
	}
	if out.Duration > 0 {
		out.Throughput = float64(max(0, out.Ops-out.Errors-after)) / out.Duration.Seconds()
	}
	return out
}

// rejudge judges a merged window's Load again from its summed counts, and
// keeps it overloaded if a process was.
func rejudge(s *Stats, tol float64) {
	if s.Schedule == nil {
		return
	}
	was := s.Overloaded
	s.Load.judge(s.Throughput, s.Duration, tol)
	s.Overloaded = s.Overloaded || was
}
