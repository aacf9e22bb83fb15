package coordinate

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"
)

// Default option values.
const (
	DefaultHeartbeat    = time.Second
	DefaultWaitTimeout  = 2 * time.Minute
	DefaultPoll         = 100 * time.Millisecond
	DefaultRetries      = 5
	DefaultClockSamples = 7
	// DefaultLeadClockSamples: see Options.LeadClockSamples.
	DefaultLeadClockSamples = 4
	DefaultMissedBeats      = 3
	DefaultMaxScale         = 10_000
)

// MaxClockSkew bounds Options.ClockSkew either way.
const MaxClockSkew = time.Minute

// Options configures both sides of the kit over a Backend: NewClient (the
// nodes) and NewRun (the orchestrator). Both sides of one run should agree
// on Heartbeat, from which the orchestrator tells a lost node. Zero values
// mean the defaults given.
type Options struct {
	// Heartbeat is how often a member records a heartbeat. Default:
	// DefaultHeartbeat.
	Heartbeat time.Duration
	// Poll is how often the kit reads the backend when no wake-up comes: a
	// waiting member the run's record, a running member the events, the
	// orchestrator the nodes. With a Watcher it is only the fallback for a
	// wake-up that went missing. Default: DefaultPoll.
	Poll time.Duration
	// Jitter, if positive, adds a random 0..Jitter to each member's poll
	// interval, so that many nodes do not read in lockstep. Default:
	// Poll/10; negative means none.
	Jitter time.Duration
	// WaitTimeout bounds Member.Wait until the start is published. Default:
	// DefaultWaitTimeout; negative means no bound other than the context.
	WaitTimeout time.Duration
	// Retries is how many consecutive failed reads Wait, AwaitReady and
	// AwaitDone tolerate (retrying each after one poll) before they give up
	// with an error naming the phase. Default: DefaultRetries.
	Retries int
	// ClockSamples is how many times the reference clock is read to
	// measure the offset (see MeasureClock). Default: DefaultClockSamples.
	ClockSamples int
	// LeadClockSamples is how many more times a member reads the
	// reference clock once it has seen the start, at random instants
	// spread from an eighth to a half of the lead before T (not sooner,
	// where they would slow the start's way to the rest of the fleet),
	// keeping a reading whose bound is tighter than the one it has (and
	// converting T, and its sighting of the start, with it). At Join every
	// node of a fleet reads the clock at about the same time, and the
	// readings queue behind each other; in the lead the fleet waits, and
	// spread readings meet no queue. The member's other writes after the
	// sighting (the sighting itself, its first read of the events) wait
	// for the third quarter of the lead, so as not to meet them. Default:
	// DefaultLeadClockSamples; negative means none.
	LeadClockSamples int
	// MaxScale bounds the concurrency: Send refuses a scale target above
	// it, and a member ignores, with a warning, a target read from the
	// backend that is not in 1..MaxScale (0..MaxScale for the run's
	// record), so that a broken or hostile record cannot make a node start
	// millions of goroutines. Default: DefaultMaxScale.
	MaxScale int
	// MissedBeats is how many heartbeats a node may miss before the
	// orchestrator declares it lost: its last beat is older than
	// MissedBeats*Heartbeat. Default: DefaultMissedBeats; negative means
	// never.
	MissedBeats int
	// OnLost is what the orchestrator does when a node is lost. Default:
	// LostAbort.
	OnLost LostPolicy
	// ClockSkew simulates, on the node side (NewClient), a host whose wall
	// clock runs ClockSkew ahead of this process's (behind when negative;
	// at most MaxClockSkew either way), so that many far-apart hosts can be
	// simulated in one process. A member reads its wall clock as
	// time.Now().Add(ClockSkew) wherever it reads one: when it measures its
	// offset against the reference clock, which therefore recovers the
	// skew within its bound (over a backend without a Clock, the reference
	// is this process's clock, read without a round trip: the offset is the
	// skew and the bound zero), and when it stamps its records, which then
	// reach the orchestrator corrected by that offset like any host's. The
	// Signal it returns is on this process's clock (the skewed clock's
	// times less the skew), so that SleepUntil, which reads this process's
	// clock, starts at the instant the skewed host would: T on the
	// reference clock, give or take the offset's error. The skew is the
	// member's alone: a Runner's timeline keeps this process's wall-clock
	// anchor, so a merged timeline shows such a node shifted by the skew.
	// NewRun refuses it: the orchestrator's clock is the one the nodes'
	// are measured against. Default: zero.
	ClockSkew time.Duration
	// Logger receives warnings: failed heartbeats and reads, records
	// ignored. Default: discard.
	Logger *slog.Logger
}

// LostPolicy says what the orchestrator does when a node misses its
// heartbeats.
type LostPolicy int

const (
	// LostAbort, the default, aborts the run. Before the start (and before
	// the start instant T of a published start: the start is withdrawn)
	// the run's record becomes ABORTED, so that every member's Wait fails
	// with an error wrapping ErrAborted and naming the lost nodes, and no
	// node runs into its warmup; after T an abort event is sent. The
	// orchestrator's call that noticed returns an error wrapping ErrLost.
	LostAbort LostPolicy = iota
	// LostContinue goes on with the rest: a lost node no longer counts
	// towards the Readiness rule's "all", and a published start stands.
	LostContinue
)

// String returns "abort" or "continue".
func (p LostPolicy) String() string {
	if p == LostContinue {
		return "continue"
	}
	return "abort"
}

// ParseLostPolicy parses "abort" or "continue".
func ParseLostPolicy(s string) (LostPolicy, error) {
	switch s {
	case "abort":
		return LostAbort, nil
	case "continue":
		return LostContinue, nil
	}
	return 0, fmt.Errorf("%w: lost policy %q: want abort or continue", ErrInvalid, s)
}

// withDefaults validates o and fills in its defaults.
func (o Options) withDefaults() (Options, error) {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Options.Heartbeat", o.Heartbeat}, {"Options.Poll", o.Poll}} {
		if d.v < 0 {
			return o, fmt.Errorf("%w: %s is %s, must not be negative", ErrInvalid, d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"Options.Retries", o.Retries}, {"Options.ClockSamples", o.ClockSamples}, {"Options.MaxScale", o.MaxScale}} {
		if n.v < 0 {
			return o, fmt.Errorf("%w: %s is %d, must not be negative", ErrInvalid, n.name, n.v)
		}
	}
	if o.ClockSkew > MaxClockSkew || o.ClockSkew < -MaxClockSkew {
		return o, fmt.Errorf("%w: Options.ClockSkew is %s, beyond ±%s (MaxClockSkew)", ErrInvalid, o.ClockSkew, MaxClockSkew)
	}
	if o.OnLost != LostAbort && o.OnLost != LostContinue {
		return o, fmt.Errorf("%w: Options.OnLost is %d, not LostAbort or LostContinue", ErrInvalid, o.OnLost)
	}
	o.Heartbeat = cmp.Or(o.Heartbeat, DefaultHeartbeat)
	o.Poll = cmp.Or(o.Poll, DefaultPoll)
	if o.Jitter == 0 {
		o.Jitter = o.Poll / 10
	}
	o.WaitTimeout = cmp.Or(o.WaitTimeout, DefaultWaitTimeout)
	o.Retries = cmp.Or(o.Retries, DefaultRetries)
	o.ClockSamples = cmp.Or(o.ClockSamples, DefaultClockSamples)
	o.LeadClockSamples = cmp.Or(o.LeadClockSamples, DefaultLeadClockSamples)
	o.MaxScale = cmp.Or(o.MaxScale, DefaultMaxScale)
	o.MissedBeats = cmp.Or(o.MissedBeats, DefaultMissedBeats)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
