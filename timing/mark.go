package timing

import (
	"sync"
	"time"
)

// Phase names one step of a run. The names are a contract: reports, JSON
// results and tests refer to them, so a phase is never renamed.
type Phase string

// The phases of one run of one worker, in the order they happen.
const (
	PoolInit         Phase = "pool.init"          // open and verify the pool's connections
	PoolConn         Phase = "pool.conn"          // one connection opened during pool.init
	SetupProfile     Phase = "setup.profile"      // load value pools and id ranges
	CoordRegister    Phase = "coord.register"     // announce the worker to the coordinator
	CoordWait        Phase = "coord.wait"         // wait for the start signal
	CoordStart       Phase = "coord.start"        // instant: the start signal as issued
	HeartbeatRunning Phase = "heartbeat.running"  // report RUNNING
	ResultsTestStart Phase = "results.test_start" // record the test start in the sinks
	ScaleWarmup      Phase = "scale.warmup"       // start the workers' goroutines
	QueryFirst       Phase = "query.first"        // a worker's first operation
	Warmup           Phase = "warmup"             // the warmup window
	Measure          Phase = "measure"            // the measured window
	Teardown         Phase = "teardown"           // stop workers, flush sinks, release the pool
)

// Phases recorded beside the run's own steps: by the Runner when something
// happens on the way (a retry, a scale, a fault), and by coordinators on a
// node's or the orchestrator's timeline.
const (
	SetupRetry       Phase = "setup.retry"       // a failed attempt of a setup phase that is retried
	Scale            Phase = "scale"             // a change of the target concurrency or rate
	Fault            Phase = "fault"             // a worker without a working operation, until it recovers
	CoordReady       Phase = "coord.ready"       // the orchestrator waits for the readiness rule
	CoordPublish     Phase = "coord.publish"     // the orchestrator publishes the start instant
	CoordSeen        Phase = "coord.seen"        // instant: a node saw the start signal
	CoordLost        Phase = "coord.lost"        // instant: a node was declared lost
	CoordUnreachable Phase = "coord.unreachable" // a node's heartbeats failed, until they recovered
)

// phases is the canonical order of the known phases; reports list phases in
// this order and unknown phases after them.
var phases = [...]Phase{
	PoolInit, PoolConn, SetupProfile, CoordRegister, CoordWait, CoordStart,
	HeartbeatRunning, ResultsTestStart, ScaleWarmup, QueryFirst, Warmup,
	Measure, Teardown,
}

// Phases returns the known phases in the order they happen in a run.
func Phases() []Phase { return append([]Phase(nil), phases[:]...) }

// phaseRank orders p for sorting: the known phases by their position in a
// run, every unknown phase after them.
func phaseRank(p Phase) int {
	for i, q := range phases {
		if q == p {
			return i
		}
	}
	return len(phases)
}

// Process is the Worker value of a mark that belongs to the whole process
// rather than to one worker goroutine.
const Process = -1

// Mark is one timed event: a span from Start to End, or an instant where
// Start == End. Offsets are from the timeline's anchor. A Mark is a plain
// value; recording one allocates nothing.
type Mark struct {
	Phase  Phase
	Worker int // worker goroutine index, or Process
	Start  time.Duration
	End    time.Duration
	// Err is the error that ended the span, if any.
	Err string
	// Detail qualifies the mark, for example "conn=3" for a pool.conn mark.
	Detail string
	// Node names the process the mark came from in a merged timeline; it is
	// empty in a single process's timeline.
	Node string
}

// Duration is End - Start.
func (m Mark) Duration() time.Duration { return m.End - m.Start }

// Recorder records marks against one monotonic base. All methods are safe for
// concurrent use. Recording never allocates while the recorder's capacity
// (set by NewRecorder) is not exceeded, and costs one clock read plus an
// uncontended lock.
type Recorder struct {
	base time.Time // carries the monotonic reading; its wall time is the anchor
	mu   sync.Mutex
	tl   Timeline
}

// NewRecorder starts a recorder whose base is now. capacity is the number of
// marks to make room for up front, so that recording them does not allocate.
// A negative capacity counts as zero.
func NewRecorder(node string, capacity int) *Recorder {
	capacity = max(capacity, 0)
	now := time.Now()
	return &Recorder{
		base: now,
		tl:   Timeline{Node: node, Anchor: now.Round(0), Marks: make([]Mark, 0, capacity)},
	}
}

// Now is the time elapsed since the recorder's base, on the monotonic clock.
func (r *Recorder) Now() time.Duration { return time.Since(r.base) }

// Offset converts a time to an offset from the base. A time read by
// time.Now in this process converts on the monotonic clock; a time from
// elsewhere (a start instant read from a database) converts by wall clock.
func (r *Recorder) Offset(t time.Time) time.Duration { return t.Sub(r.base) }

// Time converts an offset back to a time.
func (r *Recorder) Time(off time.Duration) time.Time { return r.base.Add(off) }

// Anchor is the wall-clock time of the base.
func (r *Recorder) Anchor() time.Time { return r.tl.Anchor }

// Record adds m as it is.
func (r *Recorder) Record(m Mark) {
	r.mu.Lock()
	r.tl.Marks = append(r.tl.Marks, m)
	r.mu.Unlock()
}

// Span records phase for worker from start to now and returns now.
func (r *Recorder) Span(phase Phase, worker int, start time.Duration, err error) time.Duration {
	end := r.Now()
	m := Mark{Phase: phase, Worker: worker, Start: start, End: end}
	if err != nil {
		m.Err = err.Error()
	}
	r.Record(m)
	return end
}

// Instant records phase for worker at offset at.
func (r *Recorder) Instant(phase Phase, worker int, at time.Duration) {
	r.Record(Mark{Phase: phase, Worker: worker, Start: at, End: at})
}

// SetClockOffset records this process's measured clock offset against the
// reference clock, and its error bound, for merging.
func (r *Recorder) SetClockOffset(offset, bound time.Duration) {
	r.mu.Lock()
	r.tl.ClockOffset, r.tl.ClockError = offset, bound
	r.mu.Unlock()
}

// Timeline returns a copy of what has been recorded so far.
func (r *Recorder) Timeline() Timeline {
	r.mu.Lock()
	defer r.mu.Unlock()
	tl := r.tl
	tl.Marks = append([]Mark(nil), r.tl.Marks...)
	return tl
}

// Timeline is the marks of one process (or, once merged, of several) on one
// axis: offsets from Anchor.
type Timeline struct {
	// Node names the process; empty for a merged timeline.
	Node string
	// Anchor is the wall-clock time at offset zero.
	Anchor time.Time
	// ClockOffset is how far this process's wall clock runs ahead of the
	// reference clock (the coordinator's database), as measured; ClockError
	// bounds the measurement. Both are zero when not measured.
	ClockOffset time.Duration
	ClockError  time.Duration
	Marks       []Mark
}
