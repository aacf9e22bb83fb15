package timing

import (
	"sync"
	"time"
)

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
	base    time.Time // carries the monotonic reading; its wall time is the anchor
	mu      sync.Mutex
	tl      Timeline
	observe func(Mark) // see Observe; guarded by mu
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

// Record adds m as it is, then shows it to the observer, if any (see
// Observe).
func (r *Recorder) Record(m Mark) {
	r.mu.Lock()
	r.tl.Marks = append(r.tl.Marks, m)
	f := r.observe
	r.mu.Unlock()
	if f != nil {
		f(m)
	}
}

// Observe makes f see every mark recorded from now on, whoever records it
// (Record, Span and Instant all go through Record): the one path by which
// a Runner's hooks see the marks that others record on its recorder, such
// as a coordinator's. f is called after the mark is stored, from the
// goroutine that recorded it, with no lock held, so calls may be
// concurrent and f may record on r itself. Observe(nil) stops observing;
// a later Observe replaces f. Observing costs a recording nothing more
// than the call to f.
func (r *Recorder) Observe(f func(Mark)) {
	r.mu.Lock()
	r.observe = f
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
