package sqlcoord_test

import (
	"context"
	"database/sql"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/pgnotify"
	"github.com/startline/startline/internal/faults"
)

func notifier(t *testing.T, dsn string) *pgnotify.Notifier {
	t.Helper()
	n, err := pgnotify.New(dsn)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

// joinWaiting joins n nodes n0, n1, ... through c and calls Wait on each in
// a goroutine; wg ends when every Wait has returned.
func joinWaiting(t *testing.T, c *coordinate.Client, n int) ([]coordinate.Member, []coordinate.Signal, []error, *sync.WaitGroup) {
	t.Helper()
	members := make([]coordinate.Member, n)
	for i := range n {
		m, err := c.Join(context.Background(), coordinate.Node{ID: "n" + string(rune('0'+i)), Concurrency: 2})
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Leave(context.Background(), nil) })
		members[i] = m
	}
	sigs, errs := make([]coordinate.Signal, n), make([]error, n)
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() { sigs[i], errs[i] = m.Wait(context.Background()) })
	}
	return members, sigs, errs, &wg
}

// TestNotifyWakesWaitingNodes: with polls an hour apart, only
// LISTEN/NOTIFY can start the members and deliver the stop before the
// wait timeout.
func TestNotifyWakesWaitingNodes(t *testing.T) {
	db := postgresDatabase(t)
	ctx := context.Background()
	h := open(t, db)
	tb := tables(t, db, h)
	b := backend(t, tb, runID(), notifier(t, db.dsn))
	o := orchestrator(t, b)
	opts := fast()
	opts.Poll, opts.Jitter, opts.WaitTimeout = time.Hour, -1, 20*time.Second
	members, sigs, errs, wg := joinWaiting(t, client(t, b, opts), 3)
	_, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: 3}, 20*time.Millisecond)
	require.NoError(t, err)
	wg.Wait()
	for i := range members {
		require.NoError(t, errs[i])
	}
	_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
	require.NoError(t, err)
	for i, m := range members {
		e := <-sigs[i].Events
		assert.Equal(t, coordinate.EventStop, e.Kind)
		require.NoError(t, m.Leave(ctx, nil))
	}
	assert.Equal(t, "pgnotify", b.Name())
}

// countingNotifier counts the subscriptions a Notifier opens and closes.
type countingNotifier struct {
	*pgnotify.Notifier
	opened, closed atomic.Int64
}

func (c *countingNotifier) Subscribe(ctx context.Context, channel, key string) (coordinate.Subscription, error) {
	s, err := c.Notifier.Subscribe(ctx, channel, key)
	if err != nil {
		return nil, err
	}
	c.opened.Add(1)
	return countedSub{s, c}, nil
}

type countedSub struct {
	coordinate.Subscription
	c *countingNotifier
}

func (s countedSub) Close() error {
	s.c.closed.Add(1)
	return s.Subscription.Close()
}

// TestOneSubscriptionPerBackend: the members of one process, each
// watching the run and then its events, share one listening connection,
// which the last to leave closes.
func TestOneSubscriptionPerBackend(t *testing.T) {
	db := postgresDatabase(t)
	ctx := context.Background()
	h := open(t, db)
	tb := tables(t, db, h)
	n := &countingNotifier{Notifier: notifier(t, db.dsn)}
	b := backend(t, tb, runID(), n)
	o := orchestrator(t, b)
	members, sigs, errs, wg := joinWaiting(t, client(t, b, fast()), 4)
	_, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: 4}, 0)
	require.NoError(t, err)
	wg.Wait()
	_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
	require.NoError(t, err)
	for i := range members {
		require.NoError(t, errs[i])
		assert.Equal(t, coordinate.EventStop, (<-sigs[i].Events).Kind)
	}
	assert.EqualValues(t, 1, n.opened.Load(), "one subscription for 4 members and 2 topics")
	for i, m := range members {
		require.NoError(t, m.Leave(ctx, nil))
		if i < len(members)-1 {
			assert.Zero(t, n.closed.Load(), "closed while members still watch")
		}
	}
	assert.EqualValues(t, 1, n.closed.Load(), "closed by the last to leave")
}

// droppingNotifier subscribes for real but never sends: every
// notification is lost.
type droppingNotifier struct {
	*pgnotify.Notifier
	dropped atomic.Int64
}

func (d *droppingNotifier) Notify(context.Context, string, string) error {
	d.dropped.Add(1)
	return nil
}

// TestMissedNotifyStillStartsByPoll: a notification lost on purpose costs a
// poll interval, not the start.
func TestMissedNotifyStillStartsByPoll(t *testing.T) {
	db := postgresDatabase(t)
	ctx := context.Background()
	h := open(t, db)
	tb := tables(t, db, h)
	n := &droppingNotifier{Notifier: notifier(t, db.dsn)}
	b := backend(t, tb, runID(), n)
	o := orchestrator(t, b)
	opts := fast()
	opts.Poll = 30 * time.Millisecond
	members, sigs, errs, wg := joinWaiting(t, client(t, b, opts), 2)
	_, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: 2}, 0)
	require.NoError(t, err)
	wg.Wait()
	before := n.dropped.Load()
	_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
	require.NoError(t, err)
	for i, m := range members {
		require.NoError(t, errs[i])
		assert.Equal(t, coordinate.EventStop, (<-sigs[i].Events).Kind)
		require.NoError(t, m.Leave(ctx, nil))
	}
	assert.EqualValues(t, 2, before, "the readiness rule's and the start's notifications were dropped")
	assert.EqualValues(t, 3, n.dropped.Load(), "and the stop's")
}

// proxied opens the PostgreSQL database through a fault proxy.
func proxied(t *testing.T, dsn string) (*sql.DB, *faults.Proxy) {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	p := faults.Start(t, u.Host)
	u.Host = p.Addr()
	h, err := sql.Open("pgx", u.String())
	require.NoError(t, err)
	t.Cleanup(func() { h.Close() })
	return h, p
}

// TestDatabaseGoesAwayWhileWaiting: reads fail, are retried a bounded
// number of times, and Wait fails naming the phase, well before the wait
// timeout.
func TestDatabaseGoesAwayWhileWaiting(t *testing.T) {
	db := postgresDatabase(t)
	ctx := context.Background()
	h := open(t, db)
	tb := tables(t, db, h)
	run := runID()
	orchestrator(t, backend(t, tb, run, nil))
	ph, proxy := proxied(t, db.dsn)
	ptb := tb
	ptb.DB = ph
	opts := fast()
	opts.Retries, opts.WaitTimeout = 3, time.Hour
	m, err := client(t, backend(t, ptb, run, nil), opts).Join(ctx, coordinate.Node{ID: "n"})
	require.NoError(t, err)
	require.NoError(t, m.SetState(ctx, coordinate.State{Status: coordinate.StatusReady}))
	proxy.Cut()
	_, err = m.Wait(ctx)
	require.Error(t, err)
	assert.ErrorContains(t, err, "coord.wait")
	assert.ErrorContains(t, err, "failed 4 times in a row")
	assert.NotErrorIs(t, err, coordinate.ErrWaitTimeout)
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	assert.Error(t, m.Leave(lctx, err), "the final state cannot be written either")
}

// TestDatabaseHangsWhileWaiting: a database that stops answering (reads
// hang) cannot hold Wait past its timeout (and the bounded read of who was
// missing).
func TestDatabaseHangsWhileWaiting(t *testing.T) {
	db := postgresDatabase(t)
	ctx := context.Background()
	h := open(t, db)
	tb := tables(t, db, h)
	run := runID()
	orchestrator(t, backend(t, tb, run, nil))
	ph, proxy := proxied(t, db.dsn)
	ptb := tb
	ptb.DB = ph
	opts := fast()
	opts.WaitTimeout = 300 * time.Millisecond
	m, err := client(t, backend(t, ptb, run, nil), opts).Join(ctx, coordinate.Node{ID: "n"})
	require.NoError(t, err)
	require.NoError(t, m.SetState(ctx, coordinate.State{Status: coordinate.StatusReady}))
	proxy.Stall(t)
	_, err = m.Wait(ctx)
	require.ErrorIs(t, err, coordinate.ErrWaitTimeout)
	assert.ErrorContains(t, err, "coord.wait")
	proxy.Clear()
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = m.Leave(lctx, err) // the stalled connections may be broken now
}
