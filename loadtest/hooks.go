package loadtest

import (
	"time"

	"github.com/startline/startline/timing"
)

// Hooks are optional functions the Runner calls as a run goes through its
// phases, in the manner of net/http/httptrace: each span phase has a Start
// and a Done, and Done carries the phase's error. A nil field is skipped.
//
// Hooks are called synchronously from the goroutine doing the phase, so a
// slow hook delays the run. FirstQueryStart and FirstQueryDone are called
// from every worker goroutine, concurrently; the others from the Runner's
// own goroutine. Offsets are on the run's timeline (see timing.Recorder).
type Hooks struct {
	PoolInitStart func(PhaseStartInfo)
	PoolInitDone  func(PhaseDoneInfo)
	// ConnOpened is called for every connection attempt of pool.init, from
	// the goroutine that made it; calls may be concurrent.
	ConnOpened func(ConnOpenedInfo)

	ProfileStart func(PhaseStartInfo)
	ProfileDone  func(PhaseDoneInfo)

	RegisterStart func(PhaseStartInfo)
	RegisterDone  func(PhaseDoneInfo)

	HeartbeatRunningStart func(PhaseStartInfo)
	HeartbeatRunningDone  func(PhaseDoneInfo)

	// TestStartRecordStart and TestStartRecordDone bracket
	// results.test_start; with Config.BackgroundTestStart, Done is called
	// from the background goroutine.
	TestStartRecordStart func(PhaseStartInfo)
	TestStartRecordDone  func(PhaseDoneInfo)

	ScaleWarmupStart func(PhaseStartInfo)
	ScaleWarmupDone  func(PhaseDoneInfo)

	WaitStart func(PhaseStartInfo)
	WaitDone  func(PhaseDoneInfo)
	// StartSignal is called once the start signal is known, before the
	// Runner sleeps until its instant.
	StartSignal func(StartSignalInfo)

	FirstQueryStart func(PhaseStartInfo)
	FirstQueryDone  func(PhaseDoneInfo)

	WarmupStart  func(PhaseStartInfo)
	WarmupDone   func(PhaseDoneInfo)
	MeasureStart func(PhaseStartInfo)
	MeasureDone  func(PhaseDoneInfo)

	TeardownStart func(PhaseStartInfo)
	TeardownDone  func(PhaseDoneInfo)

	// Interval is called with each interval's statistics once they are
	// collected, a quarter interval after its end (the last ones after the
	// workers stopped), from the Runner's goroutine. See Progress for a
	// live view built on it.
	Interval func(Interval)
}

// PhaseStartInfo is passed to a phase's Start hook.
type PhaseStartInfo struct {
	Phase  timing.Phase
	Worker int           // timing.Process for the process's own phases
	At     time.Duration // offset on the run's timeline
}

// PhaseDoneInfo is passed to a phase's Done hook.
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

// ComposeHooks returns Hooks that call each of hs in turn for every event.
func ComposeHooks(hs ...Hooks) Hooks {
	var c Hooks
	for _, h := range hs {
		c = Hooks{
			PoolInitStart:         chain(c.PoolInitStart, h.PoolInitStart),
			PoolInitDone:          chain(c.PoolInitDone, h.PoolInitDone),
			ConnOpened:            chain(c.ConnOpened, h.ConnOpened),
			ProfileStart:          chain(c.ProfileStart, h.ProfileStart),
			ProfileDone:           chain(c.ProfileDone, h.ProfileDone),
			RegisterStart:         chain(c.RegisterStart, h.RegisterStart),
			RegisterDone:          chain(c.RegisterDone, h.RegisterDone),
			HeartbeatRunningStart: chain(c.HeartbeatRunningStart, h.HeartbeatRunningStart),
			HeartbeatRunningDone:  chain(c.HeartbeatRunningDone, h.HeartbeatRunningDone),
			TestStartRecordStart:  chain(c.TestStartRecordStart, h.TestStartRecordStart),
			TestStartRecordDone:   chain(c.TestStartRecordDone, h.TestStartRecordDone),
			ScaleWarmupStart:      chain(c.ScaleWarmupStart, h.ScaleWarmupStart),
			ScaleWarmupDone:       chain(c.ScaleWarmupDone, h.ScaleWarmupDone),
			WaitStart:             chain(c.WaitStart, h.WaitStart),
			WaitDone:              chain(c.WaitDone, h.WaitDone),
			StartSignal:           chain(c.StartSignal, h.StartSignal),
			FirstQueryStart:       chain(c.FirstQueryStart, h.FirstQueryStart),
			FirstQueryDone:        chain(c.FirstQueryDone, h.FirstQueryDone),
			WarmupStart:           chain(c.WarmupStart, h.WarmupStart),
			WarmupDone:            chain(c.WarmupDone, h.WarmupDone),
			MeasureStart:          chain(c.MeasureStart, h.MeasureStart),
			MeasureDone:           chain(c.MeasureDone, h.MeasureDone),
			TeardownStart:         chain(c.TeardownStart, h.TeardownStart),
			TeardownDone:          chain(c.TeardownDone, h.TeardownDone),
			Interval:              chain(c.Interval, h.Interval),
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

// phaseHooks is one phase's pair of hooks.
type phaseHooks struct {
	start func(PhaseStartInfo)
	done  func(PhaseDoneInfo)
}

// hookTable is Hooks flattened once by New into a lookup by phase, so that
// the Runner calls a phase's hooks through one code path.
type hookTable map[timing.Phase]phaseHooks

func (h Hooks) table() hookTable {
	return hookTable{
		timing.PoolInit:         {h.PoolInitStart, h.PoolInitDone},
		timing.SetupProfile:     {h.ProfileStart, h.ProfileDone},
		timing.CoordRegister:    {h.RegisterStart, h.RegisterDone},
		timing.HeartbeatRunning: {h.HeartbeatRunningStart, h.HeartbeatRunningDone},
		timing.ResultsTestStart: {h.TestStartRecordStart, h.TestStartRecordDone},
		timing.ScaleWarmup:      {h.ScaleWarmupStart, h.ScaleWarmupDone},
		timing.CoordWait:        {h.WaitStart, h.WaitDone},
		timing.QueryFirst:       {h.FirstQueryStart, h.FirstQueryDone},
		timing.Warmup:           {h.WarmupStart, h.WarmupDone},
		timing.Measure:          {h.MeasureStart, h.MeasureDone},
		timing.Teardown:         {h.TeardownStart, h.TeardownDone},
	}
}

func (t hookTable) start(phase timing.Phase, worker int, at time.Duration) {
	if f := t[phase].start; f != nil {
		f(PhaseStartInfo{Phase: phase, Worker: worker, At: at})
	}
}

func (t hookTable) done(phase timing.Phase, worker int, start, end time.Duration, err error) {
	if f := t[phase].done; f != nil {
		f(PhaseDoneInfo{Phase: phase, Worker: worker, Start: start, End: end, Err: err})
	}
}
