package coordinate_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
)

// slowReady is a Memory whose readiness writes take delay to land: a node
// far from the orchestrator, or a backend loaded by a fleet.
type slowReady struct {
	*coordinate.Memory
	delay time.Duration
}

func (s slowReady) PutNode(ctx context.Context, n coordinate.NodeRecord, w coordinate.NodeWrite) error {
	if w == coordinate.NodeReady {
		time.Sleep(s.delay)
	}
	return s.Memory.PutNode(ctx, n, w)
}

// TestMinLead: the orchestrator measures how long the nodes' reports of
// ready took to reach it, and StartWhenReady gives the start at least
// twice that as lead, however short the lead asked for; a node ready long
// before the orchestrator began to wait does not count as slow.
func TestMinLead(t *testing.T) {
	ctx := context.Background()
	opts := coordinate.Options{Heartbeat: 20 * time.Millisecond, Poll: 5 * time.Millisecond, WaitTimeout: 30 * time.Second}
	// start readies a node over b, before the orchestrator begins to wait
	// (early) or after, and starts the run with a lead of 0.
	start := func(b coordinate.Backend, o *coordinate.Run, early bool) coordinate.Signal {
		c, err := coordinate.NewClient(b, opts)
		require.NoError(t, err)
		m, err := c.Join(ctx, coordinate.Node{ID: "n", Concurrency: 1})
		require.NoError(t, err)
		defer m.Leave(ctx, nil)
		waited := make(chan error, 1)
		wait := func() { _, err := m.Wait(ctx); waited <- err }
		started := make(chan coordinate.Signal, 1)
		if early {
			go wait()
			time.Sleep(50 * time.Millisecond)
		}
		go func() {
			sig, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: 1}, 0)
			require.NoError(t, err)
			started <- sig
		}()
		if !early {
			time.Sleep(10 * time.Millisecond)
			go wait()
		}
		require.NoError(t, <-waited)
		return <-started
	}

	const delay = 40 * time.Millisecond
	mem := coordinate.NewMemory()
	o, err := coordinate.NewRun(ctx, mem, opts)
	require.NoError(t, err)
	sig := start(slowReady{mem, 0}, o, true)
	if o.MinLead() >= delay {
		t.Errorf("MinLead %v with a node ready before the wait began: its wait counted as its report's delay", o.MinLead())
	}
	if lead := sig.At.Sub(sig.Published); lead < time.Millisecond {
		t.Errorf("lead %v below the millisecond a member's Wait returns before T", lead)
	}

	mem = coordinate.NewMemory()
	o, err = coordinate.NewRun(ctx, mem, opts)
	require.NoError(t, err)
	sig = start(slowReady{mem, delay}, o, false)
	if o.MinLead() < 2*delay {
		t.Errorf("MinLead %v, want at least twice the %v a report of ready took", o.MinLead(), delay)
	}
	if lead := sig.At.Sub(sig.Published); lead < o.MinLead() {
		t.Errorf("StartWhenReady with lead 0 published a lead of %v, below MinLead %v", lead, o.MinLead())
	}
}
