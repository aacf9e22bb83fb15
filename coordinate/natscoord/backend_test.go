package natscoord_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/natscoord"
)

func TestNewRejects(t *testing.T) {
	for name, o := range map[string]natscoord.Options{
		"Options.RunID":    {URL: embedded.ClientURL(), RunID: "a b"},
		"Options.Replicas": {URL: embedded.ClientURL(), RunID: "r", Replicas: 9},
		"Options.URL":      {RunID: "r"},
	} {
		_, err := natscoord.New(o)
		require.ErrorIs(t, err, coordinate.ErrInvalid, name)
		require.ErrorContains(t, err, name)
	}
}

// created returns an orchestrator's backend of a fresh run whose record
// exists, and a member's.
func created(t *testing.T) (o, m *natscoord.Backend, run string) {
	t.Helper()
	run = runID()
	o = backend(t, embedded.ClientURL(), run, true)
	dropAtEnd(t, o)
	require.NoError(t, o.PutRun(context.Background(), coordinate.RunRecord{Status: coordinate.RunWaiting, Created: time.Now()}, ""))
	return o, backend(t, embedded.ClientURL(), run, false), run
}

func TestMemberOfNoRun(t *testing.T) {
	m := backend(t, embedded.ClientURL(), runID(), false)
	_, err := m.Run(context.Background())
	require.ErrorIs(t, err, coordinate.ErrNoRun)
	_, err = m.Events(context.Background(), 0)
	require.ErrorIs(t, err, coordinate.ErrNoRun)
	_, _, err = m.ReadClock(context.Background())
	require.ErrorContains(t, err, "no orchestrator serves it")
}

// TestReadyOnlyWhileWaiting: a ready write after the start was published
// fails with ErrConflict and leaves the node's record as it was; one
// before it stands.
func TestReadyOnlyWhileWaiting(t *testing.T) {
	ctx := context.Background()
	o, m, _ := created(t)
	for _, id := range []string{"early", "late"} {
		require.NoError(t, m.PutNode(ctx, coordinate.NodeRecord{ID: id, Status: coordinate.StatusJoined, Joined: time.Now()}, coordinate.NodeJoin))
	}
	ready := coordinate.NodeRecord{ID: "early", Status: coordinate.StatusReady, Phase: "coord.wait", Ready: time.Now(), Beat: time.Now()}
	require.NoError(t, m.PutNode(ctx, ready, coordinate.NodeReady))
	require.NoError(t, o.PutRun(ctx, coordinate.RunRecord{Status: coordinate.RunStarted, At: time.Now().Add(time.Second)}, coordinate.RunWaiting))
	ready.ID = "late"
	require.ErrorIs(t, m.PutNode(ctx, ready, coordinate.NodeReady), coordinate.ErrConflict)
	st := nodesByID(t, o)
	require.Equal(t, coordinate.StatusReady, st["early"].Status)
	require.Equal(t, coordinate.StatusJoined, st["late"].Status, "the late ready write is undone")
	require.True(t, st["late"].Ready.IsZero())
}

func TestLostOnlyIfNotFinal(t *testing.T) {
	ctx := context.Background()
	o, m, _ := created(t)
	require.NoError(t, m.PutNode(ctx, coordinate.NodeRecord{ID: "a", Status: coordinate.StatusJoined, Concurrency: 3}, coordinate.NodeJoin))
	require.NoError(t, m.PutNode(ctx, coordinate.NodeRecord{ID: "b", Status: coordinate.StatusJoined}, coordinate.NodeJoin))
	require.NoError(t, m.PutNode(ctx, coordinate.NodeRecord{ID: "b", Status: coordinate.StatusDone}, coordinate.NodeState))
	require.NoError(t, o.PutNode(ctx, coordinate.NodeRecord{ID: "a"}, coordinate.NodeLost))
	require.ErrorIs(t, o.PutNode(ctx, coordinate.NodeRecord{ID: "b"}, coordinate.NodeLost), coordinate.ErrConflict)
	require.ErrorIs(t, o.PutNode(ctx, coordinate.NodeRecord{ID: "a"}, coordinate.NodeLost), coordinate.ErrConflict, "already lost")
	st := nodesByID(t, o)
	require.Equal(t, coordinate.StatusLost, st["a"].Status)
	require.Equal(t, 3, st["a"].Concurrency, "NodeLost keeps the other fields")
	require.Equal(t, coordinate.StatusDone, st["b"].Status)
}

// TestBeatKeepsState: a beat writes its own key; the state written before
// stays, and Nodes reports the later beat.
func TestBeatKeepsState(t *testing.T) {
	ctx := context.Background()
	o, m, _ := created(t)
	t0 := time.Now()
	require.NoError(t, m.PutNode(ctx, coordinate.NodeRecord{ID: "a", Status: coordinate.StatusJoined, Beat: t0}, coordinate.NodeJoin))
	require.NoError(t, m.PutNode(ctx, coordinate.NodeRecord{ID: "a", Status: coordinate.StatusRunning, Phase: "measure", Beat: t0.Add(time.Millisecond)}, coordinate.NodeState))
	require.NoError(t, m.PutNode(ctx, coordinate.NodeRecord{ID: "a", Status: coordinate.StatusJoined, Beat: t0.Add(time.Second)}, coordinate.NodeBeat))
	a := nodesByID(t, o)["a"]
	require.Equal(t, coordinate.StatusRunning, a.Status)
	require.Equal(t, "measure", a.Phase)
	require.Equal(t, t0.Add(time.Second).UnixNano(), a.Beat.UnixNano())
}

func nodesByID(t *testing.T, b coordinate.Backend) map[string]coordinate.NodeRecord {
	t.Helper()
	ns, err := b.Nodes(context.Background())
	require.NoError(t, err)
	out := map[string]coordinate.NodeRecord{}
	for _, n := range ns {
		out[n.ID] = n
	}
	return out
}

// TestNodesManyFromOneCopy: the orchestrator's Nodes sees every one of
// many nodes written through other connections at once after the writes
// (read your writes, through the copy), and again after more writes.
func TestNodesManyFromOneCopy(t *testing.T) {
	ctx := context.Background()
	o, m, _ := created(t)
	const n = 300
	for i := range n {
		require.NoError(t, m.PutNode(ctx, coordinate.NodeRecord{ID: fmt.Sprintf("n%03d", i), Status: coordinate.StatusJoined}, coordinate.NodeJoin))
	}
	require.Len(t, nodesByID(t, o), n)
	require.NoError(t, m.PutNode(ctx, coordinate.NodeRecord{ID: "n007", Status: coordinate.StatusReady, Ready: time.Now()}, coordinate.NodeReady))
	require.Equal(t, coordinate.StatusReady, nodesByID(t, o)["n007"].Status)
	require.NoError(t, m.PutNode(ctx, coordinate.NodeRecord{ID: "last", Status: coordinate.StatusJoined}, coordinate.NodeJoin))
	require.Len(t, nodesByID(t, o), n+1)
}

// TestHostileStore: junk written into the bucket and stream behind the
// backend's back comes back with Bad set, or as an error for a run's record
// whose core cannot be read; nothing panics and the good records still
// read.
func TestHostileStore(t *testing.T) {
	ctx := context.Background()
	o, m, run := created(t)
	nc, err := nats.Connect(embedded.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	tok := runToken(run)
	kv, err := js.KeyValue(ctx, "startline_"+tok)
	require.NoError(t, err)
	require.NoError(t, m.PutNode(ctx, coordinate.NodeRecord{ID: "good", Status: coordinate.StatusJoined}, coordinate.NodeJoin))
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for key, val := range map[string]string{
		"node." + b64("wrong-types"): `{"id":"wrong-types","concurrency":"lots","joined_ns":"yesterday"}`,
		"node.not=base64!":           `{}`,
		"node." + b64("not-json"):    `<xml/>`,
		"beat." + b64("good"):        `soon`,
		"unknown.key":                `whatever`,
	} {
		_, err := kv.Put(ctx, key, []byte(val))
		if err != nil && strings.Contains(key, "!") {
			continue // the client refuses the key itself
		}
		require.NoError(t, err, key)
	}
	st := nodesByID(t, o)
	require.NotNil(t, st["wrong-types"].Bad)
	require.NotNil(t, st["not-json"].Bad)
	require.NotNil(t, st["good"].Bad, "its beat is not a time")
	require.Len(t, st, 3)

	// Events: junk of every sort, a huge (but not oversized) reason, then
	// a good event: all come back in stream order, the good one decoded.
	big := strings.Repeat("x", 900<<10)
	for _, data := range []string{`{"kind":"scale","concurrency":"many"}`, `[]`, `{"kind":"stop","reason":"` + big + `"}`, `{"seq":9223372036854775807,"kind":"deafen"}`} {
		_, err := js.Publish(ctx, "startline."+tok+".events", []byte(data))
		require.NoError(t, err)
	}
	seq, err := o.AddEvent(ctx, coordinate.EventRecord{Kind: coordinate.EventScale, Concurrency: 4})
	require.NoError(t, err)
	require.Equal(t, int64(5), seq, "the stream's own numbering, above the junk")
	evs, err := m.Events(ctx, 0)
	require.NoError(t, err)
	require.Len(t, evs, 5)
	require.NotNil(t, evs[0].Bad)
	require.Equal(t, "1", evs[0].Raw)
	require.NotNil(t, evs[1].Bad)
	require.Len(t, evs[2].Reason, len(big))
	require.Equal(t, int64(4), evs[3].Seq)
	require.Equal(t, coordinate.EventRecord{Seq: 5, Kind: coordinate.EventScale, Concurrency: 4}, evs[4])
	evs, err = m.Events(ctx, 4)
	require.NoError(t, err)
	require.Len(t, evs, 1)

	// The run's record: loose fields of the wrong type set Bad; a core
	// field of the wrong type is an error.
	_, err = kv.Put(ctx, "run", []byte(`{"status":"WAITING","want":"many","expect":{"a":1},"concurrency":"lots"}`))
	require.NoError(t, err)
	r, err := m.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, coordinate.RunWaiting, r.Status)
	require.ErrorContains(t, r.Bad, "want")
	require.ErrorContains(t, r.Bad, "expect")
	require.ErrorContains(t, r.Bad, "concurrency")
	_, err = kv.Put(ctx, "run", []byte(`{"status":"STARTED","at_ns":"soon"}`))
	require.NoError(t, err)
	_, err = m.Run(ctx)
	require.ErrorContains(t, err, "not what natscoord writes")
	require.ErrorIs(t, o.PutRun(ctx, coordinate.RunRecord{Status: coordinate.RunAborted}, coordinate.RunStarted), coordinate.ErrConflict,
		"an unreadable record is in no status")
}

// TestWatchCoalesces: many changes make at most one pending wake-up, and
// Close ends the subscription.
func TestWatchCoalesces(t *testing.T) {
	ctx := context.Background()
	o, m, _ := created(t)
	sub, err := m.Watch(ctx, coordinate.TopicEvents)
	require.NoError(t, err)
	for range 5 {
		_, err := o.AddEvent(ctx, coordinate.EventRecord{Kind: coordinate.EventScale, Concurrency: 1})
		require.NoError(t, err)
	}
	select {
	case <-sub.C():
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up")
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case <-sub.C():
	default: // the other four may have coalesced into the first
	}
	select {
	case <-sub.C():
		t.Fatal("more than one pending wake-up")
	default:
	}
	require.NoError(t, sub.Close())
	require.NoError(t, sub.Close(), "twice")
	_, err = o.AddEvent(ctx, coordinate.EventRecord{Kind: coordinate.EventScale, Concurrency: 1})
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	select {
	case <-sub.C():
		t.Fatal("a wake-up after Close")
	default:
	}
	nilSub, err := m.Watch(ctx, coordinate.Topic(99))
	require.NoError(t, err)
	require.Nil(t, nilSub)
}

// TestRunWatchCarriesTheRecord: the run's watch carries each stored write
// of the record, the orchestrator's and one made straight into the bucket,
// once; not one the member has already read.
func TestRunWatchCarriesTheRecord(t *testing.T) {
	ctx := context.Background()
	o, m, run := created(t)
	sub, err := m.Watch(ctx, coordinate.TopicRun)
	require.NoError(t, err)
	defer sub.Close()
	rc, ok := sub.(coordinate.RunCarrier)
	require.True(t, ok, "the run's watch is not a RunCarrier")
	r, err := m.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, coordinate.RunWaiting, r.Status)
	_, ok = rc.Run()
	require.False(t, ok, "a record carried before any write")
	woken := func() {
		t.Helper()
		select {
		case <-sub.C():
		case <-time.After(10 * time.Second):
			t.Fatal("no wake-up after a write of the run")
		}
	}

	r.Status, r.At, r.Published = coordinate.RunStarted, time.Now().Add(time.Hour), time.Now()
	require.NoError(t, o.PutRun(ctx, r, coordinate.RunWaiting))
	woken()
	got, ok := rc.Run()
	require.True(t, ok, "the start was not carried")
	require.Equal(t, coordinate.RunStarted, got.Status)
	require.True(t, got.At.Equal(r.At))
	_, ok = rc.Run()
	require.False(t, ok, "the same record carried twice")

	// Straight into the bucket, as a hostile writer would.
	nc, err := nats.Connect(embedded.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	kv, err := js.KeyValue(ctx, "startline_"+strings.ReplaceAll(strings.ReplaceAll(run, "_", "__"), ".", "_d"))
	require.NoError(t, err)
	_, err = kv.Put(ctx, "run", []byte(`{"status":"STARTED","reason":"direct"}`))
	require.NoError(t, err)
	woken()
	got, ok = rc.Run()
	require.True(t, ok, "a direct write was not carried")
	require.Equal(t, "direct", got.Reason)

	// A write the member has read itself is not carried again.
	_, err = kv.Put(ctx, "run", []byte(`{"status":"STARTED","reason":"read"}`))
	require.NoError(t, err)
	woken()
	r, err = m.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, "read", r.Reason)
	_, ok = rc.Run()
	require.False(t, ok, "a record carried that the member had read")
}
