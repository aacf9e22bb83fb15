package coordinate_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
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
	opts := coordinate.Options{Heartbeat: 100 * time.Millisecond, Poll: 5 * time.Millisecond, WaitTimeout: 30 * time.Second}
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

	// A report slower than a heartbeat counts as one.
	mem = coordinate.NewMemory()
	o, err = coordinate.NewRun(ctx, mem, opts)
	require.NoError(t, err)
	start(slowReady{mem, 3 * opts.Heartbeat / 2}, o, false)
	if least := o.MinLead(); least < 2*opts.Heartbeat || least > 2*opts.Heartbeat+2*time.Millisecond {
		t.Errorf("MinLead %v after a report of %v: want twice the heartbeat (%v) and the spin", least, 3*opts.Heartbeat/2, opts.Heartbeat)
	}
}

// slowStart is a Memory whose reads of a started run take delay: a start
// whose fan-out outlasts its lead.
type slowStart struct {
	*coordinate.Memory
	delay time.Duration
}

func (s slowStart) Run(ctx context.Context) (coordinate.RunRecord, error) {
	r, err := s.Memory.Run(ctx)
	if err == nil && r.Status == coordinate.RunStarted {
		time.Sleep(s.delay)
	}
	return r, err
}

// TestLateSightingChecked: a node that learns of the start after T shows
// so on the orchestrator's timeline, and the orchestrator warns once.
func TestLateSightingChecked(t *testing.T) {
	ctx := context.Background()
	var logs strings.Builder
	var mu sync.Mutex
	opts := coordinate.Options{Heartbeat: 20 * time.Millisecond, Poll: 5 * time.Millisecond, WaitTimeout: 30 * time.Second,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))}
	mem := coordinate.NewMemory()
	o, err := coordinate.NewRun(ctx, mem, opts)
	require.NoError(t, err)
	c, err := coordinate.NewClient(slowStart{mem, 30 * time.Millisecond}, opts)
	require.NoError(t, err)
	for _, id := range []string{"a", "b"} {
		m, err := c.Join(ctx, coordinate.Node{ID: id, Concurrency: 1})
		require.NoError(t, err)
		defer m.Leave(ctx, nil)
		require.NoError(t, m.SetState(ctx, coordinate.State{Status: coordinate.StatusReady}))
		go func() { _, _ = m.Wait(ctx) }()
	}
	_, err = o.AwaitReady(ctx, coordinate.Readiness{Nodes: 2})
	require.NoError(t, err)
	_, err = o.Start(ctx, time.Now().Add(time.Millisecond))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := o.Nodes(ctx)
		require.NoError(t, err)
		return !st[0].Seen.IsZero() && !st[1].Seen.IsZero()
	}, 30*time.Second, 5*time.Millisecond)
	marks := o.Timeline().Find("coord.seen")
	require.Len(t, marks, 2)
	for _, m := range marks {
		if !strings.HasPrefix(m.Detail, "after T by ") {
			t.Errorf("node %s seen at least 29ms after T: detail %q", m.Node, m.Detail)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "saw the start after T"); n != 1 {
		t.Errorf("%d warnings of a late sighting, want 1:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
