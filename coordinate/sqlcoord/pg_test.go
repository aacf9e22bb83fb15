package sqlcoord_test

import (
	"context"
	"database/sql"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/pgnotify"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/internal/faults"
)

func notifier(t *testing.T, dsn string) *pgnotify.Notifier {
	t.Helper()
	n, err := pgnotify.New(dsn)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

// TestNotifyWakesWaitingWorkers: with polls an hour apart, only
// LISTEN/NOTIFY can start the members and deliver the stop before the
// wait timeout.
func TestNotifyWakesWaitingWorkers(t *testing.T) {
	b := postgresBackend(t)
	ctx := context.Background()
	db := open(t, b)
	tb := tables(t, b, db)
	n := notifier(t, b.dsn)
	o := orchestrator(t, tb, "run-n", func(oo *sqlcoord.OrchestratorOptions) { oo.Notifier = n })
	opts := fast(tb, "run-n")
	opts.Poll, opts.Jitter, opts.WaitTimeout, opts.Notifier = time.Hour, -1, 20*time.Second, n
	c, err := sqlcoord.New(opts)
	require.NoError(t, err)
	members, sigs, errs, wg := joinAll(t, c, 3)
	_, err = o.StartWhenReady(ctx, coordinate.Readiness{Workers: 3}, 20*time.Millisecond)
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
	b := postgresBackend(t)
	ctx := context.Background()
	db := open(t, b)
	tb := tables(t, b, db)
	n := &droppingNotifier{Notifier: notifier(t, b.dsn)}
	o := orchestrator(t, tb, "run-mn", func(oo *sqlcoord.OrchestratorOptions) { oo.Notifier = n })
	opts := fast(tb, "run-mn")
	opts.Poll, opts.Notifier = 30*time.Millisecond, n
	c, err := sqlcoord.New(opts)
	require.NoError(t, err)
	members, sigs, errs, wg := joinAll(t, c, 2)
	_, err = o.StartWhenReady(ctx, coordinate.Readiness{Workers: 2}, 0)
	require.NoError(t, err)
	wg.Wait()
	_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
	require.NoError(t, err)
	for i, m := range members {
		require.NoError(t, errs[i])
		assert.Equal(t, coordinate.EventStop, (<-sigs[i].Events).Kind)
		require.NoError(t, m.Leave(ctx, nil))
	}
	assert.EqualValues(t, 2, n.dropped.Load(), "the start and the stop were both dropped")
}

// proxied opens the PostgreSQL database through a fault proxy.
func proxied(t *testing.T, dsn string) (*sql.DB, *faults.Proxy) {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	p := faults.Start(t, u.Host)
	u.Host = p.Addr()
	db, err := sql.Open("pgx", u.String())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db, p
}

// TestDatabaseGoesAwayWhileWaiting: reads fail, are retried a bounded
// number of times, and Wait fails naming the phase, well before the wait
// timeout.
func TestDatabaseGoesAwayWhileWaiting(t *testing.T) {
	b := postgresBackend(t)
	ctx := context.Background()
	db := open(t, b)
	tb := tables(t, b, db)
	orchestrator(t, tb, "run-g")
	pdb, proxy := proxied(t, b.dsn)
	ptb := tb
	ptb.DB = pdb
	opts := fast(ptb, "run-g")
	opts.Retries, opts.WaitTimeout = 3, time.Hour
	c, err := sqlcoord.New(opts)
	require.NoError(t, err)
	m, err := c.Join(ctx, coordinate.Worker{ID: "w"})
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
// hang) cannot hold Wait past its timeout.
func TestDatabaseHangsWhileWaiting(t *testing.T) {
	b := postgresBackend(t)
	ctx := context.Background()
	db := open(t, b)
	tb := tables(t, b, db)
	orchestrator(t, tb, "run-h")
	pdb, proxy := proxied(t, b.dsn)
	ptb := tb
	ptb.DB = pdb
	opts := fast(ptb, "run-h")
	opts.WaitTimeout = 300 * time.Millisecond
	c, err := sqlcoord.New(opts)
	require.NoError(t, err)
	m, err := c.Join(ctx, coordinate.Worker{ID: "w"})
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
