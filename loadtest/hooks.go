package loadtest

import (
	"time"

	"github.com/startline/startline/timing"
)

// Hooks are optional functions the Runner calls as a run goes on, in the
// manner of net/http/httptrace: PhaseStart and PhaseDone bracket every
// phase the Runner runs, whatever its name, Mark sees every mark recorded
// on the run's timeline, whoever recorded it, and three hooks carry the
// events that are not phases. A nil field is skipped. See the package
// documentation for why the hooks are generic.
//
// Hooks are called synchronously from the goroutine doing the work, so a
// slow hook delays the run. Which goroutine that is, and so what may run
// concurrently, each field says; offsets are on the run's timeline (see
// timing.Recorder).
type Hooks struct {
	// PhaseStart is called when a phase the Runner runs begins: every
	// startup span (timing.KindStartup: pool.init, the pool's own
	// preparation phase if it has one, setup.profile, coord.register,
	// scale.warmup, heartbeat.running, results.test_start, coord.wait),
	// each worker's query.first (timing.KindWorker) and the windows
	// (warmup, measure, teardown). query.first is called from every
	// worker goroutine, concurrently; the others from the Runner's own
	// goroutine.
	PhaseStart func(PhaseStartInfo)
	// PhaseDone is called when such a phase ends, with its error, from
	// the goroutine that ran it: the background goroutine for
	// results.test_start with Config.BackgroundTestStart.
	PhaseDone func(PhaseDoneInfo)
	// Mark is called with every mark recorded on the run's timeline, as
	// it is recorded: the phases' own spans as they end, and the marks
	// recorded beside them by the Runner (pool.conn, setup.retry, scale,
	// coord.start), by its workers (fault) and by others, such as the
	// coordinator member's coord.unreachable. It is called from the
	// goroutine that recorded the mark, so calls may be concurrent.
	Mark func(timing.Mark)

	// ConnOpened is called for every connection attempt of pool.init, from
	// the goroutine that made it; calls may be concurrent.
	ConnOpened func(ConnOpenedInfo)
	// StartSignal is called once the start signal is known, before the
	// Runner sleeps until its instant, from the Runner's goroutine.
	StartSignal func(StartSignalInfo)
	// Interval is called with each interval's statistics once they are
	// collected, a quarter interval after its end (the last ones after the
	// workers stopped), from the Runner's goroutine. See Progress for a
	// live view built on it.
	Interval func(Interval)
}

// PhaseStartInfo is passed to PhaseStart.
type PhaseStartInfo struct {
	Phase  timing.Phase  // timing.Lookup gives its kind
	Worker int           // timing.Process for the process's own phases
	At     time.Duration // offset on the run's timeline
}

// PhaseDoneInfo is passed to PhaseDone.
type PhaseDoneInfo struct {
	Phase      timing.Phase
	Worker     int
	Start, End time.Duration
	Err        error
}

// ConnOpenedInfo describes one connection attempt during pool.init.
type ConnOpenedInfo struct {
	Index      int
	Start, End time.Duration
	Err        error
}

// StartSignalInfo describes the start signal.
type StartSignalInfo struct {
	// At is the start instant; Published is when the orchestrator issued it.
	At, Published time.Time
	// Offset is At on the run's timeline; Received is when this process
	// learnt of the signal.
	Offset, Received time.Duration
}

// ComposeHooks returns Hooks that call each of hs in turn, in the order
// given, for every event: a live progress line (Progress) beside a
// program's own hooks, say. A field that is nil in every one of hs stays
// nil, so composing costs nothing for the events nobody watches.
func ComposeHooks(hs ...Hooks) Hooks {
	var c Hooks
	for _, h := range hs {
		c = Hooks{
			PhaseStart:  chain(c.PhaseStart, h.PhaseStart),
			PhaseDone:   chain(c.PhaseDone, h.PhaseDone),
			Mark:        chain(c.Mark, h.Mark),
			ConnOpened:  chain(c.ConnOpened, h.ConnOpened),
			StartSignal: chain(c.StartSignal, h.StartSignal),
			Interval:    chain(c.Interval, h.Interval),
		}
	}
	return c
}

func chain[T any](a, b func(T)) func(T) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(v T) { a(v); b(v) }
}

// start calls PhaseStart for phase.
func (h *Hooks) start(phase timing.Phase, worker int, at time.Duration) {
	if h.PhaseStart != nil {
		h.PhaseStart(PhaseStartInfo{Phase: phase, Worker: worker, At: at})
	}
}

// done calls PhaseDone for phase.
func (h *Hooks) done(phase timing.Phase, worker int, start, end time.Duration, err error) {
	if h.PhaseDone != nil {
		h.PhaseDone(PhaseDoneInfo{Phase: phase, Worker: worker, Start: start, End: end, Err: err})
	}
}
