package coordinate

import (
	"context"
	"log/slog"
	"time"
)

// LocalOptions configures a Local. The zero value works.
type LocalOptions struct {
	// Heartbeat is how often each member records a heartbeat (LastBeat).
	// Zero or negative means DefaultHeartbeat.
	Heartbeat time.Duration
	// WaitTimeout bounds Member.Wait: a node that has waited this long
	// without a start signal gives up with ErrWaitTimeout. Zero means
	// DefaultWaitTimeout; negative means no bound other than the Wait
	// context.
	WaitTimeout time.Duration
	// MissedBeats, if positive, is how many heartbeats a member may miss
	// before it is declared lost (see Options.MissedBeats and OnLost).
	// Zero means never: the members are goroutines of this process, and
	// one that stops beating without leaving is stuck, not gone.
	MissedBeats int
	// OnLost is what happens to a run with a lost member. Default:
	// LostAbort.
	OnLost LostPolicy
	// Logger receives the kit's warnings. Default: discard.
	Logger *slog.Logger
}

// Local is a Coordinator and an Orchestrator for nodes that are goroutines
// of one process: the kit (a Client and a Run) over a Memory. All its
// methods, and those of its members, are safe for concurrent use; it has
// every method of Run (AwaitReady, Start, StartWhenReady, Send, AwaitDone,
// Timeline, ...) and Join.
//
// A Local serves one run: once started (or aborted) it refuses new nodes;
// make a new Local for the next run. A start wakes every waiting member at
// once; events are never dropped and Send never waits for a slow member
// (each member queues without bound).
type Local struct {
	*Run
	client *Client
}

var (
	_ Coordinator  = (*Local)(nil)
	_ Orchestrator = (*Local)(nil)
)

// NewLocal returns a Local configured by opts.
func NewLocal(opts LocalOptions) *Local {
	o := Options{
		Heartbeat: max(opts.Heartbeat, 0), WaitTimeout: opts.WaitTimeout,
		MissedBeats: opts.MissedBeats, OnLost: opts.OnLost, Logger: opts.Logger,
	}
	if o.MissedBeats <= 0 {
		o.MissedBeats = -1
	}
	if o.OnLost != LostContinue {
		o.OnLost = LostAbort
	}
	mem := NewMemory()
	// Neither can fail: the options are valid, and the memory is empty.
	client, err := NewClient(mem, o)
	if err != nil {
		panic(err)
	}
	run, err := NewRun(context.Background(), mem, o)
	if err != nil {
		panic(err)
	}
	return &Local{Run: run, client: client}
}

// Join registers node n and starts its member's goroutines, which run
// until the member leaves. It refuses, with ErrLate, a node that comes
// after the start: it would have missed the start instant and skew the
// measurement.
func (l *Local) Join(ctx context.Context, n Node) (Member, error) { return l.client.Join(ctx, n) }

// Members returns the state of every node that joined, including those
// that left, sorted by ID.
func (l *Local) Members() []NodeStatus {
	st, _ := l.Run.Nodes(context.Background()) // a Memory does not fail
	return st
}
