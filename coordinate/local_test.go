package coordinate_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/coordtest"
)

// TestMemoryConformance runs the kit over the Memory that Local is built
// on through the conformance suite.
func TestMemoryConformance(t *testing.T) {
	coordtest.Run(t, func(t *testing.T) coordtest.Harness {
		mem := coordinate.NewMemory()
		backend := func(*testing.T) coordinate.Backend { return mem }
		return coordtest.Harness{Orchestrator: backend, Member: backend, Inject: func(t *testing.T, h coordtest.Hostile) bool {
			return injectMemory(t, mem, h)
		}}
	})
}

// injectMemory writes h into mem as a hostile writer would. A Memory holds
// typed values, so "text where a number belongs" is a record its decoder
// (had it one) marked Bad.
func injectMemory(t *testing.T, mem *coordinate.Memory, h coordtest.Hostile) bool {
	evs, err := mem.Events(context.Background(), 0)
	require.NoError(t, err)
	var top int64
	for _, e := range evs {
		if e.Bad == nil && e.Seq < math.MaxInt64 {
			top = max(top, e.Seq)
		}
	}
	next := top + 1
	switch h {
	case coordtest.UnknownKind:
		mem.Inject(coordinate.EventRecord{Seq: next, Kind: "explode'; DROP TABLE x; --"})
	case coordtest.HugeSeq:
		mem.Inject(coordinate.EventRecord{Seq: math.MaxInt64, Kind: "deafen"})
	case coordtest.NoTarget:
		mem.Inject(coordinate.EventRecord{Seq: next, Kind: coordinate.EventScale})
	case coordtest.BeyondMaxScale:
		mem.Inject(coordinate.EventRecord{Seq: next, Kind: coordinate.EventScale, Concurrency: 1_000_000})
	case coordtest.OversizedReason:
		mem.Inject(coordinate.EventRecord{Seq: next, Kind: coordinate.EventStop, Reason: strings.Repeat("x", 4<<20)})
	case coordtest.TextSeq:
		mem.Inject(coordinate.EventRecord{Kind: coordinate.EventStop, Raw: "not-a-seq", Bad: errors.New(`seq "not-a-seq" is not an integer`)})
	case coordtest.TextTarget:
		mem.Inject(coordinate.EventRecord{Seq: next, Kind: coordinate.EventScale, Bad: errors.New(`concurrency "many" is not an integer`)})
	case coordtest.BadNode:
		require.NoError(t, mem.PutNode(context.Background(), coordinate.NodeRecord{ID: "bad-node", Bad: errors.New(`concurrency "lots" is not an integer`)}, coordinate.NodeJoin))
	default:
		return false
	}
	return true
}

// joinLocal joins n nodes named w000, w001, ... and leaves them at cleanup.
func joinLocal(t *testing.T, l *coordinate.Local, n int) []coordinate.Member {
	t.Helper()
	ms := make([]coordinate.Member, n)
	for i := range ms {
		m, err := l.Join(t.Context(), coordinate.Node{ID: fmt.Sprintf("w%03d", i), Concurrency: 2})
		require.NoError(t, err)
		t.Cleanup(func() { m.Leave(context.Background(), nil) })
		ms[i] = m
	}
	return ms
}

// TestHundredNodesStartTogether: a Local's hundred goroutine members all
// wake for one start and begin at its instant, not before.
func TestHundredNodesStartTogether(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{Heartbeat: 10 * time.Millisecond})
	const n = 100
	type result struct {
		sig   coordinate.Signal
		woke  time.Time
		began time.Time
		err   error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := &results[i]
			m, err := l.Join(ctx, coordinate.Node{ID: fmt.Sprintf("w%03d", i), Concurrency: 1})
			if err != nil {
				r.err = err
				return
			}
			defer m.Leave(ctx, nil)
			if r.err = m.SetState(ctx, coordinate.State{Status: coordinate.StatusReady, Phase: "coord.wait"}); r.err != nil {
				return
			}
			if r.sig, r.err = m.Wait(ctx); r.err != nil {
				return
			}
			r.woke = time.Now()
			r.err = coordinate.SleepUntil(ctx, r.sig.At)
			r.began = time.Now()
		})
	}
	ready, err := l.AwaitReady(ctx, coordinate.Readiness{Nodes: n})
	require.NoError(t, err)
	require.Len(t, ready, n)
	for _, s := range ready {
		assert.Equal(t, coordinate.StatusReady, s.Status)
		assert.False(t, s.Ready.IsZero(), "node %s has no ready time", s.ID)
	}
	published, err := l.Start(ctx, time.Now().Add(50*time.Millisecond))
	require.NoError(t, err)
	assert.Nil(t, published.Events, "the orchestrator's copy has no member's events")
	wg.Wait()

	seen := map[<-chan coordinate.Event]bool{}
	for i, r := range results {
		require.NoError(t, r.err, "node %d", i)
		assert.True(t, r.sig.At.Equal(published.At), "node %d At", i)
		assert.True(t, r.sig.Published.Equal(published.Published), "node %d Published", i)
		assert.Equal(t, published.Concurrency, r.sig.Concurrency)
		require.NotNil(t, r.sig.Events, "node %d Events", i)
		assert.False(t, seen[r.sig.Events], "node %d shares an Events channel", i)
		seen[r.sig.Events] = true
		assert.False(t, r.began.Before(published.At), "node %d began %s early", i, published.At.Sub(r.began))
		assert.False(t, r.woke.Before(published.Published), "node %d woke before the start was issued", i)
	}
	for _, s := range l.Members() {
		assert.Equal(t, coordinate.StatusDone, s.Status, s.ID)
	}
}

// TestLocalSeqGrowsByOne: a Local numbers its events one by one, with no
// other writer to leave gaps, from the caller's Seq ignored.
func TestLocalSeqGrowsByOne(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	ms := joinLocal(t, l, 2)
	sent, err := l.Send(ctx, coordinate.Event{Seq: 99, Kind: coordinate.EventScale, Concurrency: 4})
	require.NoError(t, err)
	assert.Equal(t, int64(1), sent.Seq)
	for _, m := range ms {
		require.NoError(t, m.SetState(ctx, coordinate.State{Status: coordinate.StatusReady}))
	}
	_, err = l.Start(ctx, time.Now())
	require.NoError(t, err)
	sigs := make([]coordinate.Signal, len(ms))
	for i, m := range ms {
		sigs[i], err = m.Wait(ctx)
		require.NoError(t, err)
	}
	for i := range 50 {
		sent, err := l.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 1})
		require.NoError(t, err)
		assert.Equal(t, int64(i+2), sent.Seq)
	}
	for _, sig := range sigs {
		for j := range 50 {
			e := <-sig.Events
			require.Equal(t, int64(j+2), e.Seq, "the scale before the start is not delivered again")
		}
	}
}

// TestLocalMembers: Members lists every node that joined, those that left
// included, sorted; an error a node left with is kept as it was given.
func TestLocalMembers(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	ms := joinLocal(t, l, 3)
	boom := errors.New("boom")
	require.NoError(t, ms[1].Leave(ctx, boom))
	st := l.Members()
	require.Len(t, st, 3)
	assert.Equal(t, []string{"w000", "w001", "w002"}, []string{st[0].ID, st[1].ID, st[2].ID})
	assert.Equal(t, coordinate.StatusJoined, st[0].Status)
	assert.Equal(t, coordinate.StatusFailed, st[1].Status)
	assert.ErrorIs(t, st[1].Err, boom)
	assert.Equal(t, "local", l.Name())
}

// TestLocalNeverLosesAGoroutineByDefault: with MissedBeats zero, a member
// whose heartbeat is far slower than the orchestrator could ever allow is
// not declared lost: the members are goroutines of this process.
func TestLocalNeverLosesAGoroutineByDefault(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{Heartbeat: time.Hour})
	ms := joinLocal(t, l, 1)
	require.NoError(t, ms[0].SetState(ctx, coordinate.State{Status: coordinate.StatusReady}))
	lost, err := l.CheckLost(ctx)
	require.NoError(t, err)
	assert.Empty(t, lost)
}

func TestReadinessValidate(t *testing.T) {
	for _, tc := range []struct {
		r     coordinate.Readiness
		field string // empty: valid
	}{
		{coordinate.Readiness{Nodes: 3}, ""},
		{coordinate.Readiness{Expect: []string{"a"}}, ""},
		{coordinate.Readiness{Nodes: 3, Quorum: 2, Deadline: time.Second}, ""},
		{coordinate.Readiness{}, "Readiness.Nodes"},
		{coordinate.Readiness{Nodes: -1}, "Readiness.Nodes"},
		{coordinate.Readiness{Nodes: 2, Expect: []string{"a"}}, "Readiness.Expect"},
		{coordinate.Readiness{Nodes: 2, Quorum: -1}, "Readiness.Quorum"},
		{coordinate.Readiness{Nodes: 2, Quorum: 3, Deadline: time.Second}, "Readiness.Quorum"},
		{coordinate.Readiness{Nodes: 2, Quorum: 1}, "Readiness.Deadline"},
		{coordinate.Readiness{Nodes: 2, Deadline: -time.Second}, "Readiness.Deadline"},
		{coordinate.Readiness{Expect: []string{"a", ""}}, "Readiness.Expect[1]"},
		{coordinate.Readiness{Expect: []string{"a", "a"}}, "Readiness.Expect"},
	} {
		err := tc.r.Validate()
		if tc.field == "" {
			assert.NoError(t, err, "%+v", tc.r)
			continue
		}
		if assert.ErrorIs(t, err, coordinate.ErrInvalid, "%+v", tc.r) {
			assert.Contains(t, err.Error(), tc.field)
		}
	}
	_, err := coordinate.NewLocal(coordinate.LocalOptions{}).AwaitReady(t.Context(), coordinate.Readiness{})
	require.ErrorIs(t, err, coordinate.ErrInvalid)
}

func TestOptionsRejected(t *testing.T) {
	mem := coordinate.NewMemory()
	for _, tc := range []struct {
		opts  coordinate.Options
		field string
	}{
		{coordinate.Options{Heartbeat: -1}, "Options.Heartbeat"},
		{coordinate.Options{Poll: -1}, "Options.Poll"},
		{coordinate.Options{Retries: -1}, "Options.Retries"},
		{coordinate.Options{ClockSamples: -1}, "Options.ClockSamples"},
		{coordinate.Options{MaxScale: -1}, "Options.MaxScale"},
		{coordinate.Options{OnLost: 7}, "Options.OnLost"},
	} {
		_, err := coordinate.NewClient(mem, tc.opts)
		require.ErrorIs(t, err, coordinate.ErrInvalid, tc.field)
		assert.Contains(t, err.Error(), tc.field)
		_, err = coordinate.NewRun(t.Context(), mem, tc.opts)
		require.ErrorIs(t, err, coordinate.ErrInvalid, tc.field)
	}
	_, err := coordinate.NewClient(nil, coordinate.Options{})
	require.ErrorIs(t, err, coordinate.ErrInvalid)
	for s, want := range map[string]coordinate.LostPolicy{"abort": coordinate.LostAbort, "continue": coordinate.LostContinue} {
		p, err := coordinate.ParseLostPolicy(s)
		require.NoError(t, err)
		assert.Equal(t, want, p)
		assert.Equal(t, s, p.String())
	}
	_, err = coordinate.ParseLostPolicy("ignore")
	require.ErrorIs(t, err, coordinate.ErrInvalid)
}

func BenchmarkRelease100(b *testing.B) {
	const n = 100
	ctx := context.Background()
	var total time.Duration
	woke := make([]time.Time, n)
	for b.Loop() {
		b.StopTimer()
		l := coordinate.NewLocal(coordinate.LocalOptions{})
		members := make([]coordinate.Member, n)
		for i := range members {
			m, err := l.Join(ctx, coordinate.Node{ID: fmt.Sprintf("w%03d", i)})
			if err != nil {
				b.Fatal(err)
			}
			members[i] = m
		}
		var wg sync.WaitGroup
		for i, m := range members {
			wg.Go(func() {
				if _, err := m.Wait(ctx); err != nil {
					b.Error(err)
				}
				woke[i] = time.Now()
			})
		}
		// Every member has marked itself ready inside Wait, just before
		// blocking.
		if _, err := l.AwaitReady(ctx, coordinate.Readiness{Nodes: n}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := l.Start(ctx, start); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		b.StopTimer()
		last := start
		for _, w := range woke {
			if w.After(last) {
				last = w
			}
		}
		total += last.Sub(start)
		for _, m := range members {
			m.Leave(ctx, nil)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/last-woken")
}
