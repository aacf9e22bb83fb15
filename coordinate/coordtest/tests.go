package coordtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/startline/startline/coordinate"
)

// tests are the suite, in the order Run runs them.
var tests = []struct {
	name string
	fn   func(e *env)
}{
	{"Barrier", testBarrier},
	{"QuorumAfterDeadline", testQuorumAfterDeadline},
	{"AllBeforeDeadline", testAllBeforeDeadline},
	{"DeadlineWithoutQuorumNamesMissing", testDeadlineWithoutQuorum},
	{"CountsNodesThatNeverJoined", testNeverJoined},
	{"AwaitReadyCancelled", testAwaitReadyCancelled},
	{"AwaitReadyIgnoresLeftNodes", testLeftNodesIgnored},
	{"WaitTimeoutNamesMissing", testWaitTimeout},
	{"WaitTimeoutUsesOrchestratorsRule", testWaitTimeoutRule},
	{"WaitCancelled", testWaitCancelled},
	{"LateJoinerRefused", testLateJoiner},
	{"JoinRejectsBadNodes", testJoinRejects},
	{"EventsInOrderExactlyOnce", testEventsInOrder},
	{"AbortBeforeStart", testAbortBeforeStart},
	{"AbortWakesAwaitReady", testAbortWakesAwaitReady},
	{"ScaleBeforeStart", testScaleBeforeStart},
	{"Leave", testLeave},
	{"HeartbeatAdvancesLastBeat", testHeartbeat},
	{"SetState", testSetState},
	{"OrchestratorRejectsBadArguments", testBadArguments},
	{"ClockOffsetWithinBound", testClock},
	{"LostBeforeStart/abort", func(e *env) { testLostBeforeStart(e, coordinate.LostAbort) }},
	{"LostBeforeStart/continue", func(e *env) { testLostBeforeStart(e, coordinate.LostContinue) }},
	{"LostBeforeT/abort", testLostBeforeTAbort},
	{"LostBeforeT/continue", testLostBeforeTContinue},
	{"LostAfterT/abort", func(e *env) { testLostAfterT(e, coordinate.LostAbort) }},
	{"LostAfterT/continue", func(e *env) { testLostAfterT(e, coordinate.LostContinue) }},
	{"WaitNotHeldByAStalledRead", testStalledRead},
	{"HostileRecordsIgnored", testHostile},
	{"DuplicateNodeID", testDuplicate},
	{"AwaitDoneCancelled", testAwaitDoneCancelled},
	{"NoGoroutineOutlivesLeave", testNoGoroutineOutlivesLeave},
}

// testBarrier: N nodes, each on its own backend, wait; the orchestrator
// waits for all, sets the concurrency, publishes T a lead ahead. Every
// member gets the same T (within the clocks' bounds), none begins before
// it, each has Events of its own; the events after the start arrive in
// order, once; the final states are recorded, and the orchestrator's
// timeline shows when each node saw the start.
func testBarrier(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	const n = 6
	ms := e.joinN(n)
	e.ready(ms...)
	outcomes := waitAll(ms)
	ready, err := o.AwaitReady(ctx, coordinate.Readiness{Nodes: n})
	must(t, err, "AwaitReady")
	if len(ready) != n {
		t.Fatalf("AwaitReady returned %d nodes, want %d", len(ready), n)
	}
	for _, s := range ready {
		if s.Status != coordinate.StatusReady || s.Ready.IsZero() {
			t.Errorf("node %s: status %s, ready at %v; want READY with a ready time", s.ID, s.Status, s.Ready)
		}
	}
	sent, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 5})
	must(t, err, "Send scale before the start")
	published, err := o.Start(ctx, time.Now().Add(100*time.Millisecond))
	must(t, err, "Start")
	if published.Events != nil {
		t.Error("the orchestrator's Signal has Events")
	}
	if published.Concurrency != 5 {
		t.Errorf("published Concurrency %d, want 5 (the scale event %d)", published.Concurrency, sent.Seq)
	}
	if _, err := o.Start(ctx, time.Now()); !errors.Is(err, coordinate.ErrStarted) {
		t.Errorf("second Start: %v, want ErrStarted", err)
	}
	res := recv(t, outcomes, "return from Wait")
	seen := map[<-chan coordinate.Event]bool{}
	for i, w := range res {
		if w.err != nil {
			t.Fatalf("node %d: Wait: %v", i, w.err)
		}
		b := bounds(o, ms[i])
		if d := abs(w.sig.At.Sub(published.At)); d > b {
			t.Errorf("node %d: T %v apart from the published one, more than the bounds %v", i, d, b)
		}
		if w.began.Before(published.At.Add(-b)) {
			t.Errorf("node %d began %v before T (bounds %v)", i, published.At.Sub(w.began), b)
		}
		if w.woke.Before(published.Published.Add(-b)) {
			t.Errorf("node %d returned from Wait before the start was published", i)
		}
		if w.sig.Published.After(w.sig.At.Add(b)) {
			t.Errorf("node %d: published %v after T", i, w.sig.Published.Sub(w.sig.At))
		}
		if w.sig.Concurrency != 5 {
			t.Errorf("node %d: Concurrency %d, want 5", i, w.sig.Concurrency)
		}
		if w.sig.Events == nil || seen[w.sig.Events] {
			t.Errorf("node %d: Events nil or shared", i)
		}
		seen[w.sig.Events] = true
	}
	e1, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 9})
	must(t, err, "Send scale")
	e2, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop, Reason: "enough"})
	must(t, err, "Send stop")
	if !(sent.Seq < e1.Seq && e1.Seq < e2.Seq) {
		t.Errorf("Seqs %d, %d, %d do not grow", sent.Seq, e1.Seq, e2.Seq)
	}
	for i, w := range res {
		if got := event(t, w.sig); got != (coordinate.Event{Seq: e1.Seq, Kind: coordinate.EventScale, Concurrency: 9}) {
			t.Errorf("node %d: first event %+v, want the scale %+v", i, got, e1)
		}
		if got := event(t, w.sig); got != (coordinate.Event{Seq: e2.Seq, Kind: coordinate.EventStop, Reason: "enough"}) {
			t.Errorf("node %d: second event %+v, want the stop %+v", i, got, e2)
		}
	}
	for i, m := range ms {
		must(t, m.SetState(ctx, coordinate.State{Status: coordinate.StatusRunning, Phase: "measure"}), "SetState RUNNING")
		var err error
		if i == 0 {
			err = errors.New("boom")
		}
		must(t, m.Leave(ctx, err), "Leave")
		if _, open := <-res[i].sig.Events; open {
			t.Errorf("node %d: Events delivered more after the stop, or is open after Leave", i)
		}
		if err := m.SetState(ctx, coordinate.State{Status: coordinate.StatusDone}); !errors.Is(err, coordinate.ErrLeft) {
			t.Errorf("SetState after Leave: %v, want ErrLeft", err)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, guard)
	defer cancel()
	st, err := o.AwaitDone(dctx)
	must(t, err, "AwaitDone")
	if len(st) != n {
		t.Fatalf("AwaitDone: %d nodes, want %d", len(st), n)
	}
	if st[0].Status != coordinate.StatusFailed || st[0].Err == nil || st[0].Err.Error() != "boom" {
		t.Errorf("node %s: %s with error %v, want FAILED with boom", st[0].ID, st[0].Status, st[0].Err)
	}
	for _, s := range st[1:] {
		if s.Status != coordinate.StatusDone || s.Phase != "measure" || s.Concurrency != 2 || s.Err != nil {
			t.Errorf("node %s: %+v, want DONE in measure with concurrency 2", s.ID, s)
		}
	}
	for _, s := range st {
		if s.Seen.IsZero() {
			t.Errorf("node %s: no sighting of the start", s.ID)
		}
	}
	tl := o.Timeline()
	if got := len(tl.Find("coord.seen")); got != n {
		t.Errorf("%d coord.seen marks on the orchestrator's timeline, want %d", got, n)
	}
	pub := tl.Find("coord.publish")
	if len(pub) != 1 || pub[0].Detail != "coordinator="+o.Name() || o.Name() == "" {
		t.Errorf("coord.publish marks %+v: want one naming the coordinator (%q)", pub, o.Name())
	}
	if len(tl.Find("coord.ready")) != 1 || len(tl.Find("coord.start")) != 1 {
		t.Error("the orchestrator's timeline lacks coord.ready or coord.start")
	}
}

func testQuorumAfterDeadline(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	ms := e.joinN(3) // n00, n01 ready; n02 stays joined
	e.ready(ms[:2]...)
	ready, err := o.AwaitReady(ctx, coordinate.Readiness{Nodes: 3, Quorum: 2, Deadline: 20 * time.Millisecond})
	must(t, err, "AwaitReady")
	if got := ids(ready); !equal(got, []string{"n00", "n01"}) {
		t.Errorf("ready %v, want [n00 n01]", got)
	}
}

func testAllBeforeDeadline(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	ms := e.joinN(2)
	got := make(chan error, 1)
	go func() {
		// An hour's deadline: returning at all shows that "all ready" does
		// not wait for it.
		_, err := o.AwaitReady(ctx, coordinate.Readiness{Nodes: 2, Quorum: 1, Deadline: time.Hour})
		got <- err
	}()
	e.ready(ms...)
	must(t, recv(t, got, "return from AwaitReady"), "AwaitReady")
}

func testDeadlineWithoutQuorum(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	for _, id := range []string{"a", "b", "c"} {
		m := e.join(id)
		if id != "c" {
			e.ready(m)
		}
	}
	_, err := o.AwaitReady(ctx, coordinate.Readiness{Expect: []string{"a", "b", "c", "d"}, Quorum: 3, Deadline: 10 * time.Millisecond})
	wantErr(t, err, coordinate.ErrNotReady, "2 of 4 nodes ready", "quorum 3 not met", "ready: [a b]", "missing: [c d]")
	var re *coordinate.ReadinessError
	if !errors.As(err, &re) {
		t.Fatalf("%v is not a *ReadinessError", err)
	}
	if re.Ready != 2 || re.Want != 4 || re.Quorum != 3 || re.Cause != nil ||
		!equal(re.ReadyIDs, []string{"a", "b"}) || !equal(re.Missing, []string{"c", "d"}) {
		t.Errorf("ReadinessError %+v", re)
	}
}

func testNeverJoined(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	ms := e.joinN(2)
	e.ready(ms[0])
	_, err := o.AwaitReady(ctx, coordinate.Readiness{Nodes: 5, Deadline: 5 * time.Millisecond})
	wantErr(t, err, coordinate.ErrNotReady, "1 of 5 nodes ready after", "missing: [n01] and 3 that never joined")
	var re *coordinate.ReadinessError
	if errors.As(err, &re) && (!equal(re.Missing, []string{"n01"}) || re.NeverJoined != 3) {
		t.Errorf("Missing %v, NeverJoined %d; want [n01] and 3", re.Missing, re.NeverJoined)
	}
}

func testAwaitReadyCancelled(e *env) {
	t := e.t
	o := e.run()
	e.joinN(1)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := o.AwaitReady(ctx, coordinate.Readiness{Nodes: 2})
		got <- err
	}()
	cancel()
	err := recv(t, got, "return from a cancelled AwaitReady")
	wantErr(t, err, context.Canceled, "0 of 2 nodes ready", "missing: [n00] and 1 that never joined")
	wantErr(t, err, coordinate.ErrNotReady)
}

func testLeftNodesIgnored(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	ms := e.joinN(2)
	e.ready(ms...)
	must(t, ms[1].Leave(ctx, errors.New("boom")), "Leave")
	_, err := o.AwaitReady(ctx, coordinate.Readiness{Nodes: 2, Deadline: time.Millisecond})
	var re *coordinate.ReadinessError
	if !errors.As(err, &re) {
		t.Fatalf("AwaitReady: %v, want a *ReadinessError", err)
	}
	if !equal(re.ReadyIDs, []string{"n00"}) || !equal(re.Missing, []string{"n01"}) {
		t.Errorf("ready %v, missing %v; want [n00] and [n01]", re.ReadyIDs, re.Missing)
	}
}

func testWaitTimeout(e *env) {
	t, ctx := e.t, context.Background()
	e = e.with(func(o *coordinate.Options) { o.WaitTimeout = 50 * time.Millisecond })
	e.run()
	ms := e.joinN(2) // n00 waits (so is ready); n01 never gets ready
	_, err := ms[0].Wait(ctx)
	wantErr(t, err, coordinate.ErrWaitTimeout, `node "n00" waited 50ms`, "start not issued", "coord.wait",
		"1 of 2 nodes ready", "not ready: [n01]")
}

func testWaitTimeoutRule(e *env) {
	t, ctx := e.t, context.Background()
	e = e.with(func(o *coordinate.Options) { o.WaitTimeout = 50 * time.Millisecond })
	o := e.run()
	ms := e.joinN(2)
	// The orchestrator's rule names a third node, which never joins.
	_, err := o.AwaitReady(ctx, coordinate.Readiness{Expect: []string{"n00", "n01", "n02"}, Deadline: time.Millisecond})
	wantErr(t, err, coordinate.ErrNotReady)
	_, err = ms[0].Wait(ctx)
	wantErr(t, err, coordinate.ErrWaitTimeout, "1 of 3 nodes ready; not ready: [n01 n02]")
}

func testWaitCancelled(e *env) {
	t := e.t
	// No wait timeout and polls an hour apart: only the context ends it.
	e = e.with(func(o *coordinate.Options) { o.WaitTimeout, o.Poll, o.Jitter = -1, time.Hour, -1 })
	o := e.run()
	m := e.join("n00")
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := m.Wait(ctx)
		got <- err
	}()
	// Wait marks the member ready before it blocks.
	eventually(t, "n00 ready", func() bool {
		st, err := o.Nodes(context.Background())
		return err == nil && len(st) == 1 && st[0].Status == coordinate.StatusReady
	})
	cancel()
	wantErr(t, recv(t, got, "return from a cancelled Wait"), context.Canceled, `"n00"`)
}

func testLateJoiner(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	early := e.join("early")
	slow := e.join("slow") // joined, not ready
	e.ready(early)
	_, err := o.StartWhenReady(ctx, coordinate.Readiness{Expect: []string{"early"}}, 10*time.Millisecond)
	must(t, err, "StartWhenReady")
	_, err = e.client().Join(ctx, coordinate.Node{ID: "late"})
	wantErr(t, err, coordinate.ErrLate, "coord.register", `"late"`)
	// Joined in time but ready too late: not counted, so refused.
	_, err = slow.Wait(ctx)
	wantErr(t, err, coordinate.ErrLate, `"slow"`)
	_, err = early.Wait(ctx)
	must(t, err, "early Wait")
	st, err := o.Nodes(ctx)
	must(t, err, "Nodes")
	if got := ids(st); !equal(got, []string{"early", "slow"}) {
		t.Errorf("nodes %v: the late joiner has a record", got)
	}
}

func testJoinRejects(e *env) {
	t, ctx := e.t, context.Background()
	e.run()
	c := e.client()
	e.joinWith(c, "n00")
	for _, tc := range []struct {
		n    coordinate.Node
		want error
		msg  string
	}{
		{coordinate.Node{}, coordinate.ErrInvalid, "Node.ID"},
		{coordinate.Node{ID: strings.Repeat("x", coordinate.MaxNodeID+1)}, coordinate.ErrInvalid, "Node.ID"},
		{coordinate.Node{ID: "x", Concurrency: -1}, coordinate.ErrInvalid, "Node.Concurrency"},
		{coordinate.Node{ID: "n00"}, coordinate.ErrDuplicate, `"n00"`},
	} {
		_, err := c.Join(ctx, tc.n)
		wantErr(t, err, tc.want, tc.msg)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := c.Join(cancelled, coordinate.Node{ID: "y"})
	wantErr(t, err, context.Canceled, `"y"`)
}

// testEventsInOrder sends events after the start, first one by one, then
// from several goroutines at once while no member reads: every member gets
// every event, once, in the order of their Seqs.
func testEventsInOrder(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	ms := e.joinN(3)
	e.ready(ms...)
	outcomes := waitAll(ms)
	_, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: len(ms)}, 0)
	must(t, err, "StartWhenReady")
	res := recv(t, outcomes, "return from Wait")
	var mu sync.Mutex
	var seqs []int64
	send := func(ev coordinate.Event) coordinate.Event {
		sent, err := o.Send(ctx, ev)
		if err != nil {
			t.Errorf("Send: %v", err)
			return sent
		}
		mu.Lock()
		seqs = append(seqs, sent.Seq)
		mu.Unlock()
		return sent
	}
	first := send(coordinate.Event{Seq: 99, Kind: coordinate.EventScale, Concurrency: 8})
	send(coordinate.Event{Kind: coordinate.EventScale, Concurrency: 3})
	if first.Seq == 99 {
		t.Error("Send kept the caller's Seq")
	}
	const senders, each = 4, 25
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for range each {
				send(coordinate.Event{Kind: coordinate.EventScale, Concurrency: 1})
			}
		})
	}
	wg.Wait()
	send(coordinate.Event{Kind: coordinate.EventStop, Reason: "enough"})
	total := 2 + senders*each + 1
	if len(seqs) != total {
		t.Fatalf("%d events sent, want %d", len(seqs), total)
	}
	slices.Sort(seqs)
	if len(slices.Compact(slices.Clone(seqs))) != total {
		t.Fatal("Send gave two events the same Seq")
	}
	for i, w := range res {
		must(t, w.err, "Wait")
		var got []coordinate.Event
		for len(got) < total {
			got = append(got, event(t, w.sig))
		}
		for j, ev := range got {
			if ev.Seq != seqs[j] {
				t.Fatalf("node %d: event %d has Seq %d, want %d", i, j, ev.Seq, seqs[j])
			}
		}
		if got[0].Concurrency != 8 || got[1].Concurrency != 3 || got[total-1].Kind != coordinate.EventStop || got[total-1].Reason != "enough" {
			t.Errorf("node %d: events %+v ... %+v", i, got[:2], got[total-1])
		}
		must(t, ms[i].Leave(ctx, nil), "Leave")
		if _, open := <-w.sig.Events; open {
			t.Errorf("node %d: an event more, or Events open after Leave", i)
		}
	}
}

func testAbortBeforeStart(e *env) {
	t, ctx := e.t, context.Background()
	e = e.with(func(o *coordinate.Options) { o.WaitTimeout = -1 })
	o := e.run()
	ms := e.joinN(3)
	outcomes := waitAll(ms)
	eventually(t, "all waiting", func() bool {
		st, err := o.Nodes(ctx)
		if err != nil || len(st) != len(ms) {
			return false
		}
		for _, s := range st {
			if s.Status != coordinate.StatusReady {
				return false
			}
		}
		return true
	})
	sent, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventAbort, Reason: "table orders missing"})
	must(t, err, "Send abort")
	for i, w := range recv(t, outcomes, "return from Wait") {
		wantErr(t, w.err, coordinate.ErrAborted, "table orders missing", "abort", "coord.wait")
		if w.err == nil {
			t.Errorf("node %d started after an abort", i)
		}
	}
	_, err = o.Start(ctx, time.Now())
	wantErr(t, err, coordinate.ErrAborted)
	_, err = o.AwaitReady(ctx, coordinate.Readiness{Nodes: 3})
	wantErr(t, err, coordinate.ErrAborted)
	_, err = e.client().Join(ctx, coordinate.Node{ID: "late"})
	wantErr(t, err, coordinate.ErrAborted, `"late"`, fmt.Sprint(sent.Seq))
	_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
	wantErr(t, err, coordinate.ErrAborted)
}

func testAbortWakesAwaitReady(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	e.joinN(1)
	got := make(chan error, 1)
	go func() {
		_, err := o.AwaitReady(ctx, coordinate.Readiness{Nodes: 2})
		got <- err
	}()
	_, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
	must(t, err, "Send stop")
	wantErr(t, recv(t, got, "return from AwaitReady"), coordinate.ErrAborted)
}

func testScaleBeforeStart(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	ms := e.joinN(1)
	e.ready(ms...)
	_, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 16})
	must(t, err, "Send scale")
	pub, err := o.Start(ctx, time.Now())
	must(t, err, "Start")
	sig, err := ms[0].Wait(ctx)
	must(t, err, "Wait")
	if pub.Concurrency != 16 || sig.Concurrency != 16 {
		t.Errorf("Concurrency published %d, received %d; want 16", pub.Concurrency, sig.Concurrency)
	}
}

func testLeave(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	ms := e.joinN(2)
	e.ready(ms...)
	_, err := o.Start(ctx, time.Now())
	must(t, err, "Start")
	sig, err := ms[0].Wait(ctx)
	must(t, err, "Wait")
	must(t, ms[0].Leave(ctx, errors.New("boom")), "Leave")
	must(t, ms[0].Leave(ctx, nil), "Leave again")
	if _, open := <-sig.Events; open {
		t.Error("Events open after Leave")
	}
	must(t, ms[1].Leave(ctx, nil), "Leave")
	st, err := o.Nodes(ctx)
	must(t, err, "Nodes")
	if st[0].Status != coordinate.StatusFailed || st[0].Err == nil || st[0].Err.Error() != "boom" {
		t.Errorf("n00: %s, %v; want FAILED with boom (the second Leave does not overwrite the first)", st[0].Status, st[0].Err)
	}
	if st[1].Status != coordinate.StatusDone || st[1].Err != nil {
		t.Errorf("n01: %s, %v; want DONE", st[1].Status, st[1].Err)
	}
	wantErr(t, ms[0].SetState(ctx, coordinate.State{Status: coordinate.StatusRunning}), coordinate.ErrLeft)
	_, err = ms[0].Wait(ctx)
	wantErr(t, err, coordinate.ErrLeft)
	// Sending to a run whose members have all left is not an error.
	_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
	must(t, err, "Send after everyone left")
}

func testHeartbeat(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	e.joinN(1)
	st, err := o.Nodes(ctx)
	must(t, err, "Nodes")
	first := st[0].LastBeat
	if first.IsZero() {
		t.Fatal("no beat at Join")
	}
	eventually(t, "a later heartbeat", func() bool {
		st, err := o.Nodes(ctx)
		return err == nil && st[0].LastBeat.After(first)
	})
}

func testSetState(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	ms := e.joinN(1)
	node := func() coordinate.NodeStatus {
		st, err := o.Nodes(ctx)
		must(t, err, "Nodes")
		return st[0]
	}
	st := node()
	if st.Status != coordinate.StatusJoined || !st.Ready.IsZero() || st.Concurrency != 2 {
		t.Errorf("after Join: %+v", st)
	}
	must(t, ms[0].SetState(ctx, coordinate.State{Status: coordinate.StatusReady, Phase: "setup.profile"}), "SetState READY")
	st = node()
	if st.Status != coordinate.StatusReady || st.Phase != "setup.profile" || st.Ready.IsZero() {
		t.Errorf("after READY: %+v", st)
	}
	ready := st.Ready
	must(t, ms[0].SetState(ctx, coordinate.State{Status: coordinate.StatusRunning, Phase: "measure"}), "SetState RUNNING")
	st = node()
	if st.Phase != "measure" || !st.Ready.Equal(ready) {
		t.Errorf("after RUNNING: phase %q, ready %v; want measure and the first ready time %v", st.Phase, st.Ready, ready)
	}
	wantErr(t, ms[0].SetState(ctx, coordinate.State{Status: "BUSY"}), coordinate.ErrInvalid, "State.Status")
}

func testBadArguments(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	for _, tc := range []struct {
		ev    coordinate.Event
		field string
	}{
		{coordinate.Event{Kind: "pause"}, "Event.Kind"},
		{coordinate.Event{Kind: coordinate.EventScale}, "Event.Concurrency"},
		{coordinate.Event{Kind: coordinate.EventScale, Concurrency: e.opts.MaxScale + 1}, "MaxScale"},
		{coordinate.Event{Kind: coordinate.EventStop, Reason: strings.Repeat("r", coordinate.MaxReason+1)}, "Event.Reason"},
	} {
		_, err := o.Send(ctx, tc.ev)
		wantErr(t, err, coordinate.ErrInvalid, tc.field)
	}
	_, err := o.Start(ctx, time.Time{})
	wantErr(t, err, coordinate.ErrInvalid)
	_, err = o.StartWhenReady(ctx, coordinate.Readiness{Nodes: 1}, -time.Second)
	wantErr(t, err, coordinate.ErrInvalid, "lead")
	_, err = o.AwaitReady(ctx, coordinate.Readiness{})
	wantErr(t, err, coordinate.ErrInvalid, "Readiness.Nodes")
	_, err = o.Start(ctx, time.Now())
	must(t, err, "Start")
	_, err = o.Start(ctx, time.Now())
	wantErr(t, err, coordinate.ErrStarted)
}

// testClock: the reference clock runs on this host (or is this process's):
// the true offset is zero, so every measured offset lies within its bound.
func testClock(e *env) {
	t := e.t
	o := e.run()
	m := e.join("n00")
	c, ok := m.(coordinate.Clocked)
	if !ok {
		t.Fatal("the member does not implement coordinate.Clocked")
	}
	for name, cl := range map[string]coordinate.Clocked{"member": c, "orchestrator": o} {
		off, bound := cl.ClockOffset()
		if bound < 0 || abs(off) > bound {
			t.Errorf("%s: offset %v outside its bound %v", name, off, bound)
		}
	}
}

// lostOpts: a node is lost after two seconds of silence; the live ones
// beat every 20ms (on a loaded machine, a live node's beat was seen 519ms
// late, and in CI at load average 15 one was silent for 1.3 s: shorter
// budgets took it for lost).
func lostOpts(policy coordinate.LostPolicy) func(*coordinate.Options) {
	return func(o *coordinate.Options) { o.MissedBeats, o.OnLost = 100, policy }
}

// testLostBeforeStart: a ready node dies while the orchestrator waits for
// the rest.
func testLostBeforeStart(e *env, policy coordinate.LostPolicy) {
	t, ctx := e.t, context.Background()
	e = e.with(lostOpts(policy))
	o := e.run()
	victim, b := e.victim("victim")
	e.ready(victim)
	live := e.join("n00")
	waiting := waitAll([]coordinate.Member{live})
	late := e.join("n01") // ready only once the victim is lost
	b.kill()
	got := make(chan error, 1)
	var ready []coordinate.NodeStatus
	go func() {
		var err error
		ready, err = o.AwaitReady(ctx, coordinate.Readiness{Nodes: 3})
		got <- err
	}()
	if policy == coordinate.LostAbort {
		err := recv(t, got, "return from AwaitReady")
		wantErr(t, err, coordinate.ErrLost, "victim")
		w := recv(t, waiting, "return from Wait")[0]
		wantErr(t, w.err, coordinate.ErrAborted, "victim")
		checkLost(t, o)
		return
	}
	eventually(t, "the victim declared lost", func() bool { return len(o.Lost()) == 1 })
	e.ready(late)
	must(t, recv(t, got, "return from AwaitReady"), "AwaitReady")
	if got := ids(ready); !equal(got, []string{"n00", "n01"}) {
		t.Errorf("ready %v, want [n00 n01]: the lost node no longer counts", got)
	}
	_, err := o.Start(ctx, time.Now())
	must(t, err, "Start")
	must(t, recv(t, waiting, "return from Wait")[0].err, "Wait")
	checkLost(t, o)
}

// checkLost checks that the victim, and only it, was declared lost, with a
// mark, and shows as LOST.
func checkLost(t *testing.T, o *coordinate.Run) {
	t.Helper()
	if got := o.Lost(); !equal(got, []string{"victim"}) {
		t.Errorf("Lost() = %v, want [victim]", got)
	}
	marks := o.Timeline().Find("coord.lost")
	if len(marks) != 1 || marks[0].Node != "victim" {
		t.Errorf("coord.lost marks %+v, want one for the victim", marks)
	}
	st, err := o.Nodes(context.Background())
	must(t, err, "Nodes")
	for _, s := range st {
		if (s.ID == "victim") != (s.Status == coordinate.StatusLost) {
			t.Errorf("node %s is %s", s.ID, s.Status)
		}
	}
}

// testLostBeforeTAbort: the start is published a minute ahead, then a node
// dies: the orchestrator withdraws the start, every member's Wait fails
// naming the lost node, and none starts.
func testLostBeforeTAbort(e *env) {
	t, ctx := e.t, context.Background()
	e = e.with(lostOpts(coordinate.LostAbort))
	o := e.run()
	victim, b := e.victim("victim")
	ms := []coordinate.Member{e.join("n00"), e.join("n01")}
	e.ready(victim)
	e.ready(ms...)
	outcomes := waitAll(ms)
	_, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: 3}, time.Minute)
	must(t, err, "StartWhenReady")
	b.kill()
	done := make(chan error, 1)
	dctx, cancel := context.WithTimeout(ctx, guard)
	defer cancel()
	go func() {
		_, err := o.AwaitDone(dctx)
		done <- err
	}()
	for i, w := range recv(t, outcomes, "return from Wait") {
		if w.err == nil {
			t.Fatalf("node %d started (T %v) though a node was lost before T", i, w.sig.At)
		}
		wantErr(t, w.err, coordinate.ErrAborted, "victim", "coord.wait")
		must(t, ms[i].Leave(ctx, w.err), "Leave")
	}
	wantErr(t, recv(t, done, "return from AwaitDone"), coordinate.ErrLost, "victim")
	checkLost(t, o)
}

// testLostBeforeTContinue: under LostContinue the rest start at T, and no
// abort is sent: the first event they get is the orchestrator's stop.
func testLostBeforeTContinue(e *env) {
	t, ctx := e.t, context.Background()
	e = e.with(lostOpts(coordinate.LostContinue))
	o := e.run()
	victim, b := e.victim("victim")
	ms := []coordinate.Member{e.join("n00"), e.join("n01")}
	e.ready(victim)
	e.ready(ms...)
	outcomes := waitAll(ms)
	pub, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: 3}, 2*time.Second)
	must(t, err, "StartWhenReady")
	b.kill()
	eventually(t, "the victim declared lost", func() bool {
		lost, err := o.CheckLost(ctx)
		return err == nil && len(lost) == 1 || len(o.Lost()) == 1
	})
	res := recv(t, outcomes, "return from Wait")
	stop, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop, Reason: "done"})
	must(t, err, "Send stop")
	for i, w := range res {
		must(t, w.err, "Wait")
		if bd := bounds(o, ms[i]); w.began.Before(pub.At.Add(-bd)) {
			t.Errorf("node %d began before T", i)
		}
		if ev := event(t, w.sig); ev.Seq != stop.Seq {
			t.Errorf("node %d: first event %+v, want the stop %+v", i, ev, stop)
		}
	}
	checkLost(t, o)
}

// testLostAfterT: a node dies in the middle of the run. Under LostAbort
// the others get an abort event naming it; under LostContinue they go on.
func testLostAfterT(e *env, policy coordinate.LostPolicy) {
	t, ctx := e.t, context.Background()
	e = e.with(lostOpts(policy))
	o := e.run()
	victim, b := e.victim("victim")
	ms := []coordinate.Member{e.join("n00"), e.join("n01")}
	e.ready(victim)
	e.ready(ms...)
	outcomes := waitAll(append([]coordinate.Member{victim}, ms...))
	_, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: 3}, 0)
	must(t, err, "StartWhenReady")
	res := recv(t, outcomes, "return from Wait")[1:]
	b.kill()
	done := make(chan error, 1)
	dctx, cancel := context.WithTimeout(ctx, guard)
	defer cancel()
	go func() {
		_, err := o.AwaitDone(dctx)
		done <- err
	}()
	if policy == coordinate.LostContinue {
		eventually(t, "the victim declared lost", func() bool { return len(o.Lost()) == 1 })
		stop, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
		must(t, err, "Send stop")
		for i, w := range res {
			must(t, w.err, "Wait")
			if ev := event(t, w.sig); ev.Seq != stop.Seq {
				t.Errorf("node %d: first event %+v, want the stop", i, ev)
			}
			must(t, ms[i].Leave(ctx, nil), "Leave")
		}
		must(t, recv(t, done, "return from AwaitDone"), "AwaitDone")
		checkLost(t, o)
		return
	}
	for i, w := range res {
		must(t, w.err, "Wait")
		ev := event(t, w.sig)
		if ev.Kind != coordinate.EventAbort || !strings.Contains(ev.Reason, "victim") {
			t.Errorf("node %d: event %+v, want an abort naming the victim", i, ev)
		}
		must(t, ms[i].Leave(ctx, errors.New(ev.Reason)), "Leave")
	}
	wantErr(t, recv(t, done, "return from AwaitDone"), coordinate.ErrLost, "victim")
	checkLost(t, o)
}

// testStalledRead: a member that knows the start keeps reading the run
// until T (a withdrawal would come that way), but a read that hangs must
// not hold it: Wait returns the signal at T all the same, and the member
// begins at T, not before.
func testStalledRead(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	b := &stalling{mortal: mortal{Backend: e.h.Member(t)}}
	m := e.joinWith(e.clientOver(b), "n00")
	e.ready(m)
	outcomes := waitAll([]coordinate.Member{m})
	pub, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: 1}, 200*time.Millisecond)
	must(t, err, "StartWhenReady")
	w := recv(t, outcomes, "return from Wait, whose reads hang after the start")[0]
	must(t, w.err, "Wait")
	if !b.stalled.Load() {
		t.Fatal("the member never read the started run")
	}
	if bd := bounds(o, m); w.began.Before(pub.At.Add(-bd)) {
		t.Errorf("began %v before T", pub.At.Sub(w.began))
	}
}

// testHostile writes records behind the orchestrator's back: the member
// skips each, with one warning however often it is read again, and still
// gets the orchestrator's events after them; a run's concurrency above
// MaxScale is ignored; the orchestrator passes over a node record it
// cannot read.
func testHostile(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	ob := e.h.Orchestrator(t)
	m := e.join("n00")
	e.ready(m)
	_, err := o.AwaitReady(ctx, coordinate.Readiness{Nodes: 1})
	must(t, err, "AwaitReady")
	_, err = o.Start(ctx, time.Now())
	must(t, err, "Start")
	// The run's record, rewritten after the start with a target far above
	// MaxScale (100).
	rr, err := ob.Run(ctx)
	must(t, err, "reading the run")
	rr.Concurrency = 1_000_000
	must(t, ob.PutRun(ctx, rr, coordinate.RunStarted), "rewriting the run")
	sig, err := m.Wait(ctx)
	must(t, err, "Wait")
	if sig.Concurrency != 0 {
		t.Errorf("Concurrency %d from a run above MaxScale, want 0 (ignored)", sig.Concurrency)
	}
	if !strings.Contains(e.logs.String(), "concurrency=1000000") {
		t.Errorf("the ignored concurrency is not logged:\n%.4000s", e.logs)
	}

	injected := 0
	badNode := false
	if e.h.Inject != nil {
		for _, h := range []Hostile{UnknownKind, HugeSeq, NoTarget, BeyondMaxScale, OversizedReason, TextSeq, TextTarget} {
			if e.h.Inject(t, h) {
				injected++
			} else {
				t.Logf("the storage cannot hold %s", h)
			}
		}
		badNode = e.h.Inject(t, BadNode)
	}
	if injected == 0 {
		t.Log("no hostile event injected: the suite checks only the run's record")
	}
	s1, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 7})
	must(t, err, "Send scale")
	s2, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop, Reason: "after the junk"})
	must(t, err, "Send stop")
	if got := event(t, sig); got != (coordinate.Event{Seq: s1.Seq, Kind: coordinate.EventScale, Concurrency: 7}) {
		t.Errorf("first event %+v, want %+v; log:\n%.4000s", got, s1, e.logs)
	}
	if got := event(t, sig); got != (coordinate.Event{Seq: s2.Seq, Kind: coordinate.EventStop, Reason: "after the junk"}) {
		t.Errorf("second event %+v, want %+v", got, s2)
	}
	// One more, so that the member reads again what lies above its cursor
	// (the huge seq, text that sorts after numbers).
	s3, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 3})
	must(t, err, "Send scale")
	if got := event(t, sig); got.Seq != s3.Seq {
		t.Errorf("third event %+v, want %+v", got, s3)
	}
	must(t, m.Leave(ctx, nil), "Leave")
	if ev, open := <-sig.Events; open {
		t.Errorf("a hostile event was delivered: %+v", ev)
	}
	if got := e.logs.count("ignoring", "control event"); got != injected {
		t.Errorf("%d warnings about control events for %d hostile ones (each is logged once); log:\n%.4000s", got, injected, e.logs)
	}
	if len(e.logs.String()) > 64<<10 {
		t.Errorf("the log is %d bytes: a hostile value went into it whole", len(e.logs.String()))
	}
	if !badNode {
		return
	}
	for range 3 {
		st, err := o.Nodes(ctx)
		must(t, err, "Nodes")
		if got := ids(st); !equal(got, []string{"n00"}) {
			t.Errorf("nodes %v, want [n00]: the unreadable record is passed over", got)
		}
	}
	_, err = o.CheckLost(ctx)
	must(t, err, "CheckLost")
	if got := e.logs.count("bad-node"); got != 1 {
		t.Errorf("the unreadable node record is logged %d times over four reads, want once", got)
	}
}

func testDuplicate(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	e.join("twin")
	_, err := e.client().Join(ctx, coordinate.Node{ID: "twin"})
	wantErr(t, err, coordinate.ErrDuplicate, `"twin"`, "coord.register")
	st, err := o.Nodes(ctx)
	must(t, err, "Nodes")
	if len(st) != 1 {
		t.Errorf("%d node records for one ID", len(st))
	}
	_, err = coordinate.NewRun(ctx, e.h.Orchestrator(t), e.opts)
	wantErr(t, err, coordinate.ErrRunExists)
}

func testAwaitDoneCancelled(e *env) {
	t := e.t
	o := e.run()
	e.joinN(2)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := o.AwaitDone(ctx)
		got <- err
	}()
	cancel()
	wantErr(t, recv(t, got, "return from a cancelled AwaitDone"), context.Canceled, "still running", "n00 n01")
}

// testNoGoroutineOutlivesLeave: members joined, waiting, started and
// receiving events run goroutines of the kit (and of the backend, for its
// subscriptions); once every one has left, none is left running.
func testNoGoroutineOutlivesLeave(e *env) {
	t, ctx := e.t, context.Background()
	o := e.run()
	ms := e.joinN(3)
	e.ready(ms[:2]...)
	outcomes := waitAll(ms[:2])
	_, err := o.StartWhenReady(ctx, coordinate.Readiness{Expect: []string{"n00", "n01"}}, 0)
	must(t, err, "StartWhenReady")
	res := recv(t, outcomes, "return from Wait")
	_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 2})
	must(t, err, "Send")
	event(t, res[0].sig)
	if len(kitGoroutines()) == 0 {
		t.Fatal("no goroutine of the kit found while members run: the check below would prove nothing")
	}
	for _, m := range ms {
		must(t, m.Leave(ctx, nil), "Leave")
	}
	var left []string
	for end := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		// A goroutine that has signalled what Leave waits for may still be
		// returning from its last call: give it a moment, as goleak does.
		if left = kitGoroutines(); len(left) == 0 || time.Now().After(end) {
			break
		}
	}
	for _, g := range left {
		t.Errorf("goroutine outlived Leave:\n%s", g)
	}
}
