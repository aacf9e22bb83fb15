package natscoord_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/natscoord"
	"github.com/startline/startline/coordinate/natscoord/natsembed"
)

// restartOpts are kit options for a server that goes away: beats fail
// while it is down without the nodes being declared lost.
func restartOpts(wait time.Duration) coordinate.Options {
	return coordinate.Options{Heartbeat: 50 * time.Millisecond, Poll: 20 * time.Millisecond, MissedBeats: -1,
		WaitTimeout: wait, Retries: 1000}
}

type waitResult struct {
	sig   coordinate.Signal
	err   error
	bound time.Duration // the member's clock bound
}

// waitMembers joins n members, each on its own connection (whose gaps are
// counted in gaps), reports them ready and calls Wait on each in a
// goroutine.
func waitMembers(t *testing.T, url, run string, n int, opts coordinate.Options, gaps *atomic.Int64) <-chan []waitResult {
	t.Helper()
	ms := make([]coordinate.Member, n)
	for i := range ms {
		b, err := natscoord.New(natscoord.Options{URL: url, RunID: run, Timeout: 2 * time.Second,
			OnGap: func(down, up time.Time) {
				if up.After(down) {
					gaps.Add(1)
				}
			}})
		require.NoError(t, err)
		t.Cleanup(func() { b.Close() })
		c, err := coordinate.NewClient(b, opts)
		require.NoError(t, err)
		m, err := c.Join(context.Background(), coordinate.Node{ID: fmt.Sprintf("m%d", i), Concurrency: 1})
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Leave(context.Background(), nil) })
		require.NoError(t, m.SetState(context.Background(), coordinate.State{Status: coordinate.StatusReady, Phase: "coord.wait"}))
		ms[i] = m
	}
	out := make(chan []waitResult, 1)
	go func() {
		res := make([]waitResult, n)
		var wg sync.WaitGroup
		for i, m := range ms {
			wg.Go(func() {
				res[i].sig, res[i].err = m.Wait(context.Background())
				_, res[i].bound = m.(coordinate.Clocked).ClockOffset()
			})
		}
		wg.Wait()
		out <- res
	}()
	return out
}

func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("no %s after %s: something hangs", what, d)
		panic("unreachable")
	}
}

// TestServerRestartWhileWaiting: the server goes away while the members
// wait and comes back on the same port and store; the members reconnect
// (a gap each), and the start published after it reaches them all before T.
func TestServerRestartWhileWaiting(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(srv.Stop) // after the members have left
	run := runID()
	opts := restartOpts(60 * time.Second)
	ob := backend(t, srv.ClientURL(), run, true)
	o, err := coordinate.NewRun(context.Background(), ob, opts)
	require.NoError(t, err)
	var gaps atomic.Int64
	const n = 3
	done := waitMembers(t, srv.ClientURL(), run, n, opts, &gaps)

	srv.Shutdown()
	time.Sleep(300 * time.Millisecond) // the members' reads fail meanwhile
	require.NoError(t, srv.Restart())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sig, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: n}, 700*time.Millisecond)
	require.NoError(t, err, "StartWhenReady after the restart")
	res := within(t, done, 40*time.Second, "return from Wait")
	for i, r := range res {
		require.NoError(t, r.err, "member %d", i)
		// The member converts T with its measured offset.
		if d := r.sig.At.Sub(sig.At); d > r.bound || d < -r.bound {
			t.Errorf("member %d: T %v, the orchestrator's %v: %v apart, beyond the bound %v", i, r.sig.At, sig.At, d, r.bound)
		}
	}
	// Not a speed check: a member that saw the start after T (on the
	// orchestrator's clock, within its bound) missed the start it was sent
	// before T. When it returned from Wait is the machine's business.
	nodes, err := o.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, n)
	for _, st := range nodes {
		require.False(t, st.Seen.IsZero(), "%s saw the start", st.ID)
		if st.Seen.After(sig.At.Add(10 * time.Millisecond)) {
			t.Errorf("%s saw the start %v after T", st.ID, st.Seen.Sub(sig.At))
		}
	}
	if got := gaps.Load(); got < n {
		t.Errorf("%d reconnect gaps reported for %d members", got, n)
	}
}

// TestServerGoneWaitTimeout: the server goes away and stays away; each
// member fails after its wait timeout, with the phase named, and nothing
// hangs.
func TestServerGoneWaitTimeout(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{})
	require.NoError(t, err)
	t.Cleanup(srv.Stop) // after the members have left
	run := runID()
	opts := restartOpts(1500 * time.Millisecond)
	ob := backend(t, srv.ClientURL(), run, true)
	_, err = coordinate.NewRun(context.Background(), ob, opts)
	require.NoError(t, err)
	var gaps atomic.Int64
	done := waitMembers(t, srv.ClientURL(), run, 2, opts, &gaps)
	srv.Shutdown()
	res := within(t, done, 30*time.Second, "return from Wait")
	for i, r := range res {
		require.Error(t, r.err, "member %d", i)
		if !errors.Is(r.err, context.DeadlineExceeded) && !strings.Contains(r.err.Error(), "coord.wait") {
			t.Errorf("member %d: %v: want the wait timeout", i, r.err)
		}
		require.Contains(t, r.err.Error(), "coord.wait", "member %d", i)
	}
}
