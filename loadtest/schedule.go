package loadtest

import "time"

// DefaultOverloadTolerance is Config.OverloadTolerance's default: an
// arrival-rate run that achieves less than 95% of what it offered, or whose
// backlog grows by more than 5% of it, is overloaded.
const DefaultOverloadTolerance = 0.05

// Load is what an arrival-rate run offered over a window (a phase or an
// interval, in all or for one operation), counted from its schedule rather
// than from what completed, against what it achieved.
type Load struct {
	// Offered counts the operations scheduled in the window, run or
	// dropped; OfferedPerS is that per second of the window.
	Offered     int64   `json:"offered"`
	OfferedPerS float64 `json:"offered_per_s"`
	// BacklogStart and BacklogEnd count the operations scheduled but not
	// yet begun (queued behind busy workers, or not yet released) at the
	// window's start and at its end: what the system owed then, whatever
	// window they were scheduled in.
	BacklogStart int64 `json:"backlog_start"`
	BacklogEnd   int64 `json:"backlog_end"`
	// AchievedRatio is the throughput achieved (successful operations
	// completed inside the window, per second) over OfferedPerS; 1 when
	// nothing was offered.
	AchievedRatio float64 `json:"achieved_ratio"`
	// Overloaded says the system did not keep up: it achieved less than
	// OfferedPerS by more than Config.OverloadTolerance, or its backlog
	// grew across the window by more than that share of Offered.
	Overloaded bool `json:"overloaded"`
}

// Schedule is a phase's Load (in all or for one operation), and the
// operations scheduled in the phase's window that completed after it.
// Those still count in the phase's latencies and in Ops (dropping them
// would hide the slowest), but not in its throughput, which is what
// completed inside the window. CarriedIn counts, for the measured window,
// the successful operations the warmup scheduled that completed inside it,
// which its throughput counts (so that, in a steady state, the operations
// a window hands on at its end and those it takes over at its start
// balance, and the throughput is the rate kept up).
type Schedule struct {
	Load
	CompletedAfter int64 `json:"completed_after"`
	CarriedIn      int64 `json:"carried_in"`
}

// judge sets OfferedPerS, AchievedRatio and Overloaded from Offered, the
// backlog, the achieved throughput and the window's length d.
func (l *Load) judge(achieved float64, d time.Duration, tol float64) {
	if d > 0 {
		l.OfferedPerS = float64(l.Offered) / d.Seconds()
	}
	l.AchievedRatio = 1
	if l.OfferedPerS > 0 {
		l.AchievedRatio = achieved / l.OfferedPerS
	}
	grew := l.BacklogEnd - l.BacklogStart
	l.Overloaded = l.AchievedRatio < 1-tol || (grew > 0 && float64(grew) > tol*float64(l.Offered))
}

// sample is a reading of an arrival-rate run's schedule counters at one
// instant, by phase and operation: offered and dropped so far, and the
// backlog then, by operation. Intervals and windows take their counts as
// the difference of the samples at their ends.
type sample struct {
	offered, dropped [2][]int64
	begun            []int64 // as at the sample's instant (see plan.sample)
	backlog          []int64
}

// setBacklog sets the backlog from the counts: offered - dropped - begun.
func (s *sample) setBacklog() {
	s.backlog = make([]int64, len(s.begun))
	for i := range s.begun {
		s.backlog[i] = max(0, s.offered[0][i]+s.offered[1][i]-s.dropped[0][i]-s.dropped[1][i]-s.begun[i])
	}
}

// sample reads the counters at the interval boundary at (or now, when at
// is negative): offered and dropped as the pacer copied them when it
// passed at, if it did, else as they are (the pacer has not scheduled
// anything since); begun likewise as the first worker to begin an
// operation at or after at copied it, if one did (see countBegun), else
// as it is. begun is read first, so that a release between the readings
// counts in the backlog rather than making it negative. So the backlog is
// the one at at, to within the operations that workers were beginning at
// that very instant, however late the collector reads it.
func (p *plan) sample(at time.Duration) *sample {
	n := len(p.ops)
	s := &sample{begun: make([]int64, n)}
	for i := range n {
		s.begun[i] = p.begun[i].Load()
	}
	for ph := range s.offered {
		s.offered[ph], s.dropped[ph] = make([]int64, n), make([]int64, n)
		for i := range n {
			s.offered[ph][i] = p.offered[ph][i].Load()
			s.dropped[ph][i] = p.dropped[ph][i].Load()
		}
	}
	if at >= 0 && time.Duration(p.snapAt.Load()) == at {
		for ph := range s.offered {
			for i := range n {
				s.offered[ph][i] = p.snapOffered[ph][i].Load()
				s.dropped[ph][i] = p.snapDropped[ph][i].Load()
			}
		}
	}
	if at >= 0 {
		if counts := p.begunAtInstant(at); counts != nil {
			for i := range n {
				s.begun[i] = counts[i].Load()
			}
		}
	}
	s.setBacklog()
	return s
}

// load is the Load of phase ph (of operation op, or of all when op < 0)
// between the samples from and to, not yet judged.
func load(from, to *sample, ph, op int) Load {
	var l Load
	for i := range to.backlog {
		if op >= 0 && i != op {
			continue
		}
		l.Offered += to.offered[ph][i] - from.offered[ph][i]
		l.BacklogStart += from.backlog[i]
		l.BacklogEnd += to.backlog[i]
	}
	return l
}

// droppedBetween counts the operations of phase ph dropped between from
// and to.
func droppedBetween(from, to *sample, ph int) int64 {
	var n int64
	for i := range to.dropped[ph] {
		n += to.dropped[ph][i] - from.dropped[ph][i]
	}
	return n
}

// zeroSample is the counters before the start.
func (p *plan) zeroSample() *sample {
	n := len(p.ops)
	s := &sample{backlog: make([]int64, n)}
	for ph := range s.offered {
		s.offered[ph], s.dropped[ph] = make([]int64, n), make([]int64, n)
	}
	return s
}
