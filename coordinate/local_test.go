package coordinate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
)

// join joins n workers named w000, w001, ... and leaves them at cleanup.
func join(t *testing.T, l *coordinate.Local, n int) []coordinate.Member {
	t.Helper()
	ms := make([]coordinate.Member, n)
	for i := range ms {
		m, err := l.Join(t.Context(), coordinate.Worker{ID: fmt.Sprintf("w%03d", i), Concurrency: 2})
		require.NoError(t, err)
		t.Cleanup(func() { m.Leave(context.Background(), nil) })
		ms[i] = m
	}
	return ms
}

func ids(ss []coordinate.WorkerStatus) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func TestHundredWorkersStartTogether(t *testing.T) {
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
			m, err := l.Join(ctx, coordinate.Worker{ID: fmt.Sprintf("w%03d", i), Concurrency: 1})
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
	ready, err := l.AwaitReady(ctx, coordinate.Readiness{Workers: n})
	require.NoError(t, err)
	require.Len(t, ready, n)
	for _, s := range ready {
		assert.Equal(t, coordinate.StatusReady, s.Status)
		assert.False(t, s.Ready.IsZero(), "worker %s has no ready time", s.ID)
	}
	published, err := l.Start(ctx, time.Now().Add(50*time.Millisecond))
	require.NoError(t, err)
	assert.Nil(t, published.Events, "the orchestrator's copy has no member's events")
	wg.Wait()

	seen := map[<-chan coordinate.Event]bool{}
	for i, r := range results {
		require.NoError(t, r.err, "worker %d", i)
		assert.True(t, r.sig.At.Equal(published.At), "worker %d At", i)
		assert.True(t, r.sig.Published.Equal(published.Published), "worker %d Published", i)
		assert.Equal(t, published.Concurrency, r.sig.Concurrency)
		require.NotNil(t, r.sig.Events, "worker %d Events", i)
		assert.False(t, seen[r.sig.Events], "worker %d shares an Events channel", i)
		seen[r.sig.Events] = true
		assert.False(t, r.began.Before(published.At), "worker %d began %s early", i, published.At.Sub(r.began))
		assert.False(t, r.woke.Before(published.Published), "worker %d woke before the start was issued", i)
	}
	for _, s := range l.Members() {
		assert.Equal(t, coordinate.StatusDone, s.Status, s.ID)
	}
}

func TestAwaitReadyQuorumAfterDeadline(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	ms := join(t, l, 3) // w000, w001 ready; w002 stays joined
	for _, m := range ms[:2] {
		require.NoError(t, m.SetState(ctx, coordinate.State{Status: coordinate.StatusReady}))
	}
	ready, err := l.AwaitReady(ctx, coordinate.Readiness{Workers: 3, Quorum: 2, Deadline: 20 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, []string{"w000", "w001"}, ids(ready))
}

func TestAwaitReadyAllBeforeDeadline(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	ms := join(t, l, 2)
	got := make(chan error, 1)
	go func() {
		// An hour's deadline: returning at all shows that "all ready" does
		// not wait for the deadline.
		_, err := l.AwaitReady(ctx, coordinate.Readiness{Workers: 2, Quorum: 1, Deadline: time.Hour})
		got <- err
	}()
	for _, m := range ms {
		require.NoError(t, m.SetState(ctx, coordinate.State{Status: coordinate.StatusReady}))
	}
	require.NoError(t, <-got)
}

func TestAwaitReadyDeadlineWithoutQuorumNamesMissing(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	for _, id := range []string{"a", "b", "c"} {
		m, err := l.Join(ctx, coordinate.Worker{ID: id})
		require.NoError(t, err)
		defer m.Leave(ctx, nil)
		if id != "c" {
			require.NoError(t, m.SetState(ctx, coordinate.State{Status: coordinate.StatusReady}))
		}
	}
	_, err := l.AwaitReady(ctx, coordinate.Readiness{
		Expect: []string{"a", "b", "c", "d"}, Quorum: 3, Deadline: 10 * time.Millisecond,
	})
	require.ErrorIs(t, err, coordinate.ErrNotReady)
	var re *coordinate.ReadinessError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 2, re.Ready)
	assert.Equal(t, 4, re.Want)
	assert.Equal(t, 3, re.Quorum)
	assert.Equal(t, []string{"a", "b"}, re.ReadyIDs)
	assert.Equal(t, []string{"c", "d"}, re.Missing)
	assert.Nil(t, re.Cause)
	msg := err.Error()
	assert.Contains(t, msg, "2 of 4 workers ready")
	assert.Contains(t, msg, "quorum 3 not met")
	assert.Contains(t, msg, "ready: [a b]")
	assert.Contains(t, msg, "missing: [c d]")
}

func TestAwaitReadyCountsWorkersThatNeverJoined(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	ms := join(t, l, 2)
	require.NoError(t, ms[0].SetState(ctx, coordinate.State{Status: coordinate.StatusReady}))
	_, err := l.AwaitReady(ctx, coordinate.Readiness{Workers: 5, Deadline: 5 * time.Millisecond})
	var re *coordinate.ReadinessError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, []string{"w001"}, re.Missing)
	assert.Equal(t, 3, re.NeverJoined)
	assert.Contains(t, err.Error(), "1 of 5 workers ready after")
	assert.Contains(t, err.Error(), "missing: [w001] and 3 that never joined")
}

func TestAwaitReadyContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	join(t, l, 1)
	got := make(chan error, 1)
	go func() {
		_, err := l.AwaitReady(ctx, coordinate.Readiness{Workers: 2})
		got <- err
	}()
	cancel()
	err := <-got
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, coordinate.ErrNotReady)
	assert.Contains(t, err.Error(), "0 of 2 workers ready")
	assert.Contains(t, err.Error(), "missing: [w000] and 1 that never joined")
}

func TestAwaitReadyIgnoresLeftWorkers(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	ms := join(t, l, 2)
	for _, m := range ms {
		require.NoError(t, m.SetState(ctx, coordinate.State{Status: coordinate.StatusReady}))
	}
	require.NoError(t, ms[1].Leave(ctx, errors.New("boom")))
	_, err := l.AwaitReady(ctx, coordinate.Readiness{Workers: 2, Deadline: time.Millisecond})
	var re *coordinate.ReadinessError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, []string{"w000"}, re.ReadyIDs)
	assert.Equal(t, []string{"w001"}, re.Missing)
}

func TestWaitTimeoutNamesReadyAndMissing(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{WaitTimeout: 20 * time.Millisecond})
	ms := join(t, l, 2) // w000 waits (so is ready), w001 never gets ready
	_, err := ms[0].Wait(ctx)
	require.ErrorIs(t, err, coordinate.ErrWaitTimeout)
	msg := err.Error()
	assert.Contains(t, msg, `worker "w000" waited 20ms`)
	assert.Contains(t, msg, "start not issued")
	assert.Contains(t, msg, "1 of 2 workers ready")
	assert.Contains(t, msg, "not ready: [w001]")
}

func TestWaitTimeoutUsesOrchestratorsExpectation(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{WaitTimeout: 10 * time.Millisecond})
	ms := join(t, l, 2)
	// The orchestrator's rule names a third worker that never joins.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := l.AwaitReady(cancelled, coordinate.Readiness{Expect: []string{"w000", "w001", "w002"}})
	require.ErrorIs(t, err, context.Canceled)

	_, err = ms[0].Wait(ctx)
	require.ErrorIs(t, err, coordinate.ErrWaitTimeout)
	assert.Contains(t, err.Error(), "1 of 3 workers ready; not ready: [w001 w002]")
}

func TestWaitContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	l := coordinate.NewLocal(coordinate.LocalOptions{WaitTimeout: -1})
	ms := join(t, l, 1)
	got := make(chan error, 1)
	go func() {
		_, err := ms[0].Wait(ctx)
		got <- err
	}()
	// Wait marks the member ready before blocking.
	require.Eventually(t, func() bool { return l.Members()[0].Status == coordinate.StatusReady },
		10*time.Second, time.Millisecond)
	cancel()
	err := <-got
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), `"w000"`)
}

func TestLateJoinerRefused(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	join(t, l, 1)
	_, err := l.Start(ctx, time.Now())
	require.NoError(t, err)
	_, err = l.Join(ctx, coordinate.Worker{ID: "latecomer"})
	require.ErrorIs(t, err, coordinate.ErrLate)
	assert.Contains(t, err.Error(), `"latecomer"`)
	assert.Len(t, l.Members(), 1)
}

func TestJoinRejectsBadWorkers(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	join(t, l, 1)
	for _, tc := range []struct {
		w    coordinate.Worker
		want error
		msg  string
	}{
		{coordinate.Worker{}, coordinate.ErrInvalid, "Worker.ID"},
		{coordinate.Worker{ID: "x", Concurrency: -1}, coordinate.ErrInvalid, "Worker.Concurrency"},
		{coordinate.Worker{ID: "w000"}, coordinate.ErrDuplicate, `"w000"`},
	} {
		_, err := l.Join(ctx, tc.w)
		require.ErrorIs(t, err, tc.want, "%+v", tc.w)
		assert.Contains(t, err.Error(), tc.msg)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := l.Join(cancelled, coordinate.Worker{ID: "y"})
	require.ErrorIs(t, err, context.Canceled)
}

func TestEventsDeliveredOnceInOrder(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	ms := join(t, l, 5)
	_, err := l.Start(ctx, time.Now())
	require.NoError(t, err)
	sigs := make([]coordinate.Signal, len(ms))
	for i, m := range ms {
		sigs[i], err = m.Wait(ctx)
		require.NoError(t, err)
	}

	// Sequential events first, so their content can be checked by Seq.
	first := []coordinate.Event{
		{Kind: coordinate.EventScale, Concurrency: 8},
		{Kind: coordinate.EventScale, Concurrency: 3},
	}
	for i, e := range first {
		sent, err := l.Send(ctx, coordinate.Event{Seq: 99, Kind: e.Kind, Concurrency: e.Concurrency})
		require.NoError(t, err)
		assert.Equal(t, int64(i+1), sent.Seq, "Send assigns Seq, ignoring the caller's")
	}
	// Then many senders at once, well past the Events buffer, while no
	// member reads: nothing may block or be dropped.
	const senders, each = 4, 50
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for range each {
				_, err := l.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 1})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	last, err := l.Send(ctx, coordinate.Event{Kind: coordinate.EventStop, Reason: "enough"})
	require.NoError(t, err)
	total := len(first) + senders*each + 1
	require.Equal(t, int64(total), last.Seq)

	for i, sig := range sigs {
		var got []coordinate.Event
		for e := range sig.Events {
			got = append(got, e)
			if e.Kind == coordinate.EventStop {
				break
			}
		}
		require.Len(t, got, total, "member %d", i)
		for j, e := range got {
			require.Equal(t, int64(j+1), e.Seq, "member %d event %d", i, j)
		}
		assert.Equal(t, 8, got[0].Concurrency)
		assert.Equal(t, 3, got[1].Concurrency)
		assert.Equal(t, "enough", got[total-1].Reason)

		require.NoError(t, ms[i].Leave(ctx, nil))
		_, open := <-sig.Events
		assert.False(t, open, "member %d: Events open after Leave", i)
	}
}

func TestAbortBeforeStart(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{WaitTimeout: -1})
	ms := join(t, l, 3)
	errs := make(chan error, len(ms))
	for _, m := range ms {
		go func() {
			_, err := m.Wait(ctx)
			errs <- err
		}()
	}
	sent, err := l.Send(ctx, coordinate.Event{Kind: coordinate.EventAbort, Reason: "table orders missing"})
	require.NoError(t, err)
	assert.Equal(t, int64(1), sent.Seq)
	for range ms {
		err := <-errs
		require.ErrorIs(t, err, coordinate.ErrAborted)
		assert.Contains(t, err.Error(), "table orders missing")
		assert.Contains(t, err.Error(), "abort")
	}
	_, err = l.Start(ctx, time.Now())
	require.ErrorIs(t, err, coordinate.ErrAborted)
	_, err = l.AwaitReady(ctx, coordinate.Readiness{Workers: 3})
	require.ErrorIs(t, err, coordinate.ErrAborted)
	_, err = l.Join(ctx, coordinate.Worker{ID: "late"})
	require.ErrorIs(t, err, coordinate.ErrAborted)
	assert.Contains(t, err.Error(), `"late"`)
}

func TestAbortWakesAwaitReady(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	join(t, l, 1)
	got := make(chan error, 1)
	go func() {
		_, err := l.AwaitReady(ctx, coordinate.Readiness{Workers: 2})
		got <- err
	}()
	_, err := l.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
	require.NoError(t, err)
	require.ErrorIs(t, <-got, coordinate.ErrAborted)
}

func TestScaleBeforeStartSetsSignalConcurrency(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	ms := join(t, l, 1)
	_, err := l.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 16})
	require.NoError(t, err)
	pub, err := l.Start(ctx, time.Now())
	require.NoError(t, err)
	assert.Equal(t, 16, pub.Concurrency)
	sig, err := ms[0].Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 16, sig.Concurrency)
}

func TestLeave(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	ms := join(t, l, 2)
	_, err := l.Start(ctx, time.Now())
	require.NoError(t, err)
	sig, err := ms[0].Wait(ctx)
	require.NoError(t, err)

	boom := errors.New("boom")
	require.NoError(t, ms[0].Leave(ctx, boom))
	require.NoError(t, ms[0].Leave(ctx, nil), "Leave again")
	_, open := <-sig.Events
	assert.False(t, open, "Events closed by Leave")
	require.NoError(t, ms[1].Leave(ctx, nil))

	st := l.Members()
	assert.Equal(t, coordinate.StatusFailed, st[0].Status)
	assert.ErrorIs(t, st[0].Err, boom, "the second Leave does not overwrite the first")
	assert.Equal(t, coordinate.StatusDone, st[1].Status)
	assert.NoError(t, st[1].Err)

	err = ms[0].SetState(ctx, coordinate.State{Status: coordinate.StatusRunning})
	require.ErrorIs(t, err, coordinate.ErrLeft)
	_, err = ms[0].Wait(ctx)
	require.ErrorIs(t, err, coordinate.ErrLeft)
	// Sending to a run whose members have all left is not an error.
	_, err = l.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
	require.NoError(t, err)
}

func TestHeartbeatAdvancesLastBeat(t *testing.T) {
	l := coordinate.NewLocal(coordinate.LocalOptions{Heartbeat: 2 * time.Millisecond})
	ms := join(t, l, 1)
	first := l.Members()[0].LastBeat
	require.False(t, first.IsZero())
	require.Eventually(t, func() bool { return l.Members()[0].LastBeat.After(first) },
		10*time.Second, time.Millisecond)
	// After Leave the heartbeat stops (goleak checks the goroutine is gone).
	require.NoError(t, ms[0].Leave(t.Context(), nil))
}

func TestSetState(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})
	ms := join(t, l, 1)
	st := l.Members()[0]
	assert.Equal(t, coordinate.StatusJoined, st.Status)
	assert.True(t, st.Ready.IsZero())
	assert.Equal(t, 2, st.Concurrency)

	require.NoError(t, ms[0].SetState(ctx, coordinate.State{Status: coordinate.StatusReady, Phase: "setup.profile"}))
	st = l.Members()[0]
	assert.Equal(t, coordinate.StatusReady, st.Status)
	assert.Equal(t, "setup.profile", st.Phase)
	ready := st.Ready
	require.False(t, ready.IsZero())

	require.NoError(t, ms[0].SetState(ctx, coordinate.State{Status: coordinate.StatusRunning, Phase: "measure"}))
	st = l.Members()[0]
	assert.Equal(t, "measure", st.Phase)
	assert.True(t, st.Ready.Equal(ready), "Ready keeps the first ready time")

	err := ms[0].SetState(ctx, coordinate.State{Status: "BUSY"})
	require.ErrorIs(t, err, coordinate.ErrInvalid)
	assert.Contains(t, err.Error(), "State.Status")
}

func TestOrchestratorRejectsBadArguments(t *testing.T) {
	ctx := t.Context()
	l := coordinate.NewLocal(coordinate.LocalOptions{})

	_, err := l.Send(ctx, coordinate.Event{Kind: "pause"})
	require.ErrorIs(t, err, coordinate.ErrInvalid)
	assert.Contains(t, err.Error(), "Event.Kind")
	_, err = l.Send(ctx, coordinate.Event{Kind: coordinate.EventScale})
	require.ErrorIs(t, err, coordinate.ErrInvalid)
	assert.Contains(t, err.Error(), "Event.Concurrency")

	_, err = l.Start(ctx, time.Time{})
	require.ErrorIs(t, err, coordinate.ErrInvalid)
	_, err = l.StartWhenReady(ctx, coordinate.Readiness{Workers: 1}, -time.Second)
	require.ErrorIs(t, err, coordinate.ErrInvalid)
	assert.Contains(t, err.Error(), "lead")

	_, err = l.Start(ctx, time.Now())
	require.NoError(t, err)
	_, err = l.Start(ctx, time.Now())
	require.ErrorIs(t, err, coordinate.ErrStarted)
}

func TestReadinessValidate(t *testing.T) {
	for _, tc := range []struct {
		r     coordinate.Readiness
		field string // empty: valid
	}{
		{coordinate.Readiness{Workers: 3}, ""},
		{coordinate.Readiness{Expect: []string{"a"}}, ""},
		{coordinate.Readiness{Workers: 3, Quorum: 2, Deadline: time.Second}, ""},
		{coordinate.Readiness{}, "Readiness.Workers"},
		{coordinate.Readiness{Workers: -1}, "Readiness.Workers"},
		{coordinate.Readiness{Workers: 2, Expect: []string{"a"}}, "Readiness.Expect"},
		{coordinate.Readiness{Workers: 2, Quorum: -1}, "Readiness.Quorum"},
		{coordinate.Readiness{Workers: 2, Quorum: 3, Deadline: time.Second}, "Readiness.Quorum"},
		{coordinate.Readiness{Workers: 2, Quorum: 1}, "Readiness.Deadline"},
		{coordinate.Readiness{Workers: 2, Deadline: -time.Second}, "Readiness.Deadline"},
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
			m, err := l.Join(ctx, coordinate.Worker{ID: fmt.Sprintf("w%03d", i)})
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
		if _, err := l.AwaitReady(ctx, coordinate.Readiness{Workers: n}); err != nil {
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
