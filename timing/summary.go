package timing

import (
	"fmt"
	"slices"
	"time"
)

// Spread is the minimum, median and maximum of N durations. The median of an
// even count is the mean of the two middle values. All are zero when N is 0.
//
// Its JSON form is {"min","p50","max"} in integer nanoseconds, as results
// carry it (start.signal_to_first_query_ns); N is left out, since results
// state the count beside it.
type Spread struct {
	Min    time.Duration `json:"min"`
	Median time.Duration `json:"p50"`
	Max    time.Duration `json:"max"`
	N      int           `json:"-"`
}

// String formats s as "min X  median Y  max Z".
func (s Spread) String() string {
	return fmt.Sprintf("min %s  median %s  max %s",
		FormatDuration(s.Min), FormatDuration(s.Median), FormatDuration(s.Max))
}

// spreadOf sorts ds in place and returns their spread.
func spreadOf(ds []time.Duration) Spread {
	n := len(ds)
	if n == 0 {
		return Spread{}
	}
	slices.Sort(ds)
	median := ds[n/2]
	if n%2 == 0 {
		// a + (b-a)/2 rather than (a+b)/2, which could overflow.
		median = ds[n/2-1] + (ds[n/2]-ds[n/2-1])/2
	}
	return Spread{Min: ds[0], Median: median, Max: ds[n-1], N: n}
}

// Summary is the answer to "where did the time between the start signal and
// the first query go" for one timeline, usually a merged one.
type Summary struct {
	// Signal is the coord.start mark; nil when there is none. When several
	// nodes recorded one, it is the earliest.
	Signal *Mark
	// Workers is the number of workers, (Node, Worker) pairs, with a
	// query.first mark.
	Workers int
	// FirstQuery spreads, over workers, the gap from Signal to the start of
	// each worker's first query. It is zero when there is no Signal.
	FirstQuery Spread
	// Skew is how far apart the workers' first queries started: the latest
	// start minus the earliest.
	Skew time.Duration
	// Longest is the longest process-level span (Worker == Process) that
	// ends no later than the earliest first query starts, leaving out
	// windows and side marks (KindWindow, KindMark: warmup, measure,
	// teardown, pool.conn, setup.retry, scale): the longest span on the
	// path to the first query. With no query.first mark every such span counts,
	// since a run that never reached its first query still wants its culprit
	// named. Nil when there is no such span.
	Longest *Mark
	// PoolConns spreads the open latency (duration) of pool.conn marks.
	PoolConns Spread
}

// Summarize computes the [Summary] of tl, with the earliest coord.start
// mark as the start signal.
func Summarize(tl Timeline) Summary { return summarize(tl, nil) }

// SummarizeFrom is Summarize with signal as the start signal instead of
// the earliest coord.start mark: for a merged timeline in which one
// mark, such as the orchestrator's own, is the instant that was published.
func SummarizeFrom(tl Timeline, signal Mark) Summary { return summarize(tl, &signal) }

func summarize(tl Timeline, signal *Mark) Summary {
	s := Summary{Signal: signal}
	type worker struct {
		node string
		id   int
	}
	first := map[worker]time.Duration{} // earliest query.first start per worker
	var conns []time.Duration
	for i, m := range tl.Marks {
		switch m.Phase {
		case CoordStart:
			if signal == nil && (s.Signal == nil || m.Start < s.Signal.Start) {
				s.Signal = &tl.Marks[i]
			}
		case QueryFirst:
			w := worker{m.Node, m.Worker}
			if at, ok := first[w]; !ok || m.Start < at {
				first[w] = m.Start
			}
		case PoolConn:
			conns = append(conns, m.Duration())
		}
	}
	if s.Signal != nil {
		sig := *s.Signal // a copy, so the summary does not alias tl.Marks
		s.Signal = &sig
	}
	s.PoolConns = spreadOf(conns)

	s.Workers = len(first)
	starts := make([]time.Duration, 0, len(first))
	for _, at := range first {
		starts = append(starts, at)
	}
	slices.Sort(starts)
	if len(starts) > 0 {
		s.Skew = starts[len(starts)-1] - starts[0]
		if s.Signal != nil {
			gaps := make([]time.Duration, len(starts))
			for i, at := range starts {
				gaps[i] = at - s.Signal.Start
			}
			s.FirstQuery = spreadOf(gaps)
		}
	}

	for _, m := range tl.Marks {
		if m.Worker != Process || m.Start == m.End {
			continue
		}
		switch m.Phase.Kind() {
		case KindWindow, KindMark:
			continue
		}
		if len(starts) > 0 && m.End > starts[0] {
			continue
		}
		// Strictly longer, so that of equal spans the first recorded wins.
		if s.Longest == nil || m.Duration() > s.Longest.Duration() {
			s.Longest = &m
		}
	}
	return s
}
