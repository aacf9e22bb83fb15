package sqlcoord_test

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
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/pool/dialect"
)

// abs is |d|.
func abs(d time.Duration) time.Duration { return max(d, -d) }

// joinAll joins n members in goroutines and waits for each, returning
// their signals and errors by index.
func joinAll(t *testing.T, c *sqlcoord.Coordinator, n int) ([]coordinate.Member, []coordinate.Signal, []error, *sync.WaitGroup) {
	t.Helper()
	members := make([]coordinate.Member, n)
	for i := range n {
		m, err := c.Join(context.Background(), coordinate.Worker{ID: fmt.Sprintf("w%d", i), Concurrency: 2})
		require.NoError(t, err)
		members[i] = m
	}
	sigs, errs := make([]coordinate.Signal, n), make([]error, n)
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() { sigs[i], errs[i] = m.Wait(context.Background()) })
	}
	return members, sigs, errs, &wg
}

func TestBarrierStopAndScale(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := open(t, b)
		tb := tables(t, b, db)
		o := orchestrator(t, tb, "run-1")
		c, err := sqlcoord.New(fast(tb, "run-1"))
		require.NoError(t, err)

		const n = 4
		members, sigs, errs, wg := joinAll(t, c, n)
		ready, err := o.AwaitReady(ctx, coordinate.Readiness{Workers: n})
		require.NoError(t, err)
		require.Len(t, ready, n)
		for _, r := range ready {
			assert.Equal(t, coordinate.StatusReady, r.Status)
			assert.False(t, r.Ready.IsZero())
		}

		// A scale before the start becomes the signal's concurrency.
		e, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 5})
		require.NoError(t, err)
		assert.EqualValues(t, 1, e.Seq)
		sig, err := o.Start(ctx, time.Now().Add(50*time.Millisecond))
		require.NoError(t, err)
		_, err = o.Start(ctx, time.Now())
		require.ErrorIs(t, err, coordinate.ErrStarted)
		wg.Wait()

		_, oBound := o.ClockOffset()
		for i := range n {
			require.NoError(t, errs[i], "worker %d", i)
			_, bound := members[i].(coordinate.Clocked).ClockOffset()
			// Every member converts the same instant with its own offset:
			// they agree within the measurement bounds.
			assert.LessOrEqual(t, abs(sigs[i].At.Sub(sig.At)), bound+oBound, "worker %d", i)
			assert.Equal(t, 5, sigs[i].Concurrency)
			assert.False(t, sigs[i].Published.After(sigs[i].At.Add(bound+oBound)))
		}

		// After the start: a scale, then a stop, each received once, in order.
		_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 9})
		require.NoError(t, err)
		_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop, Reason: "enough"})
		require.NoError(t, err)
		for i := range n {
			e1, e2 := <-sigs[i].Events, <-sigs[i].Events
			assert.Equal(t, coordinate.Event{Seq: 2, Kind: coordinate.EventScale, Concurrency: 9}, e1)
			assert.Equal(t, coordinate.Event{Seq: 3, Kind: coordinate.EventStop, Reason: "enough"}, e2)
		}
		for i, m := range members {
			require.NoError(t, m.SetState(ctx, coordinate.State{Status: coordinate.StatusRunning, Phase: "measure"}))
			var err error
			if i == 0 {
				err = errors.New("boom")
			}
			require.NoError(t, m.Leave(ctx, err))
			_, ok := <-sigs[i].Events
			assert.False(t, ok, "Events is closed by Leave")
			require.ErrorIs(t, m.SetState(ctx, coordinate.State{Status: coordinate.StatusDone}), coordinate.ErrLeft)
		}
		ws, err := o.Workers(ctx)
		require.NoError(t, err)
		require.Len(t, ws, n)
		assert.Equal(t, coordinate.StatusFailed, ws[0].Status)
		assert.EqualError(t, ws[0].Err, "boom")
		for _, w := range ws[1:] {
			assert.Equal(t, coordinate.StatusDone, w.Status)
			assert.Equal(t, "measure", w.Phase)
			assert.Equal(t, 2, w.Concurrency)
		}
	})
}

func TestAbortBeforeStart(t *testing.T) {
	b := sqliteBackend(t)
	ctx := context.Background()
	db := open(t, b)
	tb := tables(t, b, db)
	o := orchestrator(t, tb, "run-a")
	c, err := sqlcoord.New(fast(tb, "run-a"))
	require.NoError(t, err)
	members, _, errs, wg := joinAll(t, c, 2)
	_, err = o.AwaitReady(ctx, coordinate.Readiness{Workers: 2})
	require.NoError(t, err)
	_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventAbort, Reason: "db migration"})
	require.NoError(t, err)
	wg.Wait()
	for _, err := range errs {
		require.ErrorIs(t, err, coordinate.ErrAborted)
		assert.ErrorContains(t, err, "db migration")
		assert.ErrorContains(t, err, "coord.wait")
	}
	for _, m := range members {
		require.NoError(t, m.Leave(ctx, nil))
	}
	_, err = c.Join(ctx, coordinate.Worker{ID: "late"})
	require.ErrorIs(t, err, coordinate.ErrAborted)
	_, err = o.Start(ctx, time.Now())
	require.ErrorIs(t, err, coordinate.ErrAborted)
}

func TestLateJoinerRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := open(t, b)
		tb := tables(t, b, db)
		o := orchestrator(t, tb, "run-l")
		c, err := sqlcoord.New(fast(tb, "run-l"))
		require.NoError(t, err)
		early, err := c.Join(ctx, coordinate.Worker{ID: "early"})
		require.NoError(t, err)
		slow, err := c.Join(ctx, coordinate.Worker{ID: "slow"}) // joined, not ready
		require.NoError(t, err)
		require.NoError(t, early.SetState(ctx, coordinate.State{Status: coordinate.StatusReady}))
		_, err = o.StartWhenReady(ctx, coordinate.Readiness{Expect: []string{"early"}}, 10*time.Millisecond)
		require.NoError(t, err)

		_, err = c.Join(ctx, coordinate.Worker{ID: "late"})
		require.ErrorIs(t, err, coordinate.ErrLate)
		assert.ErrorContains(t, err, "coord.register")
		// Joined in time but ready too late: not counted, so refused.
		_, err = slow.Wait(ctx)
		require.ErrorIs(t, err, coordinate.ErrLate)
		_, err = early.Wait(ctx)
		require.NoError(t, err)
		require.NoError(t, slow.Leave(ctx, err))
		require.NoError(t, early.Leave(ctx, nil))
	})
}

func TestDuplicateWorker(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := open(t, b)
		tb := tables(t, b, db)
		orchestrator(t, tb, "run-d")
		c, err := sqlcoord.New(fast(tb, "run-d"))
		require.NoError(t, err)
		m, err := c.Join(ctx, coordinate.Worker{ID: "w"})
		require.NoError(t, err)
		defer m.Leave(ctx, nil)
		_, err = c.Join(ctx, coordinate.Worker{ID: "w"})
		require.ErrorIs(t, err, coordinate.ErrDuplicate)
		_, err = sqlcoord.NewOrchestrator(ctx, sqlcoord.OrchestratorOptions{Tables: tb, RunID: "run-d"})
		require.ErrorIs(t, err, sqlcoord.ErrRunExists)
	})
}

func TestJoinUnknownRun(t *testing.T) {
	b := sqliteBackend(t)
	db := open(t, b)
	tb := tables(t, b, db)
	c, err := sqlcoord.New(fast(tb, "nobody-made-me"))
	require.NoError(t, err)
	_, err = c.Join(context.Background(), coordinate.Worker{ID: "w"})
	require.ErrorIs(t, err, sqlcoord.ErrNoRun)
}

func TestWaitTimeoutNamesPhase(t *testing.T) {
	b := sqliteBackend(t)
	ctx := context.Background()
	db := open(t, b)
	tb := tables(t, b, db)
	orchestrator(t, tb, "run-t")
	opts := fast(tb, "run-t")
	opts.WaitTimeout = 100 * time.Millisecond
	c, err := sqlcoord.New(opts)
	require.NoError(t, err)
	m, err := c.Join(ctx, coordinate.Worker{ID: "w"})
	require.NoError(t, err)
	_, err = m.Wait(ctx)
	require.ErrorIs(t, err, coordinate.ErrWaitTimeout)
	assert.ErrorContains(t, err, "coord.wait")
	require.NoError(t, m.Leave(ctx, err))
	_, err = m.Wait(ctx)
	require.ErrorIs(t, err, coordinate.ErrLeft)
}

func TestWaitContextCancelled(t *testing.T) {
	b := sqliteBackend(t)
	db := open(t, b)
	tb := tables(t, b, db)
	orchestrator(t, tb, "run-c")
	c, err := sqlcoord.New(fast(tb, "run-c"))
	require.NoError(t, err)
	m, err := c.Join(context.Background(), coordinate.Worker{ID: "w"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	_, err = m.Wait(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, m.Leave(context.Background(), err))
}

func TestMaliciousEventRowsIgnored(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := open(t, b)
		tb := tables(t, b, db)
		o := orchestrator(t, tb, "run-m")
		member, sig, logs := startLogged(t, tb, o, "run-m")

		// Rows written behind the orchestrator's back: an unknown kind, a
		// scale without a target, a scale to a negative target, then a
		// valid stop.
		ev, err := b.d.Ident(tb.Prefix + "events")
		require.NoError(t, err)
		ins := fmt.Sprintf("INSERT INTO %s (run_id, seq, kind, concurrency, reason, created_ns) VALUES (%s, %s, %s, %s, %s, 0)",
			ev, ph(b.d, 1), ph(b.d, 2), ph(b.d, 3), ph(b.d, 4), ph(b.d, 5))
		for _, r := range []struct {
			seq  int64
			kind string
			conc any
		}{{10, "explode'; DROP TABLE x; --", 0}, {11, "scale", nil}, {12, "scale", -3}, {13, "stop", 0}} {
			_, err := db.ExecContext(ctx, ins, "run-m", r.seq, r.kind, r.conc, "r")
			require.NoError(t, err)
		}
		e := <-sig.Events
		assert.Equal(t, coordinate.Event{Seq: 13, Kind: coordinate.EventStop, Reason: "r"}, e)
		require.NoError(t, member.Leave(ctx, nil))
		_, ok := <-sig.Events
		assert.False(t, ok)
		out := logs.String()
		assert.Contains(t, out, "unknown kind")
		assert.Contains(t, out, "seq=10")
		assert.Contains(t, out, "seq=11")
		assert.Contains(t, out, "seq=12")
	})
}

// ph is the n-th placeholder of d.
func ph(d dialect.Dialect, n int) string { return d.Placeholder(n) }

func TestClockOffsetWithinBound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := open(t, b)
		tb := tables(t, b, db)
		o := orchestrator(t, tb, "run-clk")
		c, err := sqlcoord.New(fast(tb, "run-clk"))
		require.NoError(t, err)
		m, err := c.Join(ctx, coordinate.Worker{ID: "w"})
		require.NoError(t, err)
		defer m.Leave(ctx, nil)
		// The database runs on this host: the true offset is zero, so each
		// measurement must lie within its own error bound.
		for _, cl := range []coordinate.Clocked{m.(coordinate.Clocked), o} {
			off, bound := cl.ClockOffset()
			assert.Positive(t, bound)
			assert.LessOrEqual(t, abs(off), bound, "offset %s bound %s", off, bound)
		}
	})
}

func TestInvalidOptions(t *testing.T) {
	b := sqliteBackend(t)
	db := open(t, b)
	good := sqlcoord.Tables{DB: db, Dialect: dialect.SQLite}
	for _, tc := range []struct {
		name  string
		opts  sqlcoord.Options
		field string
	}{
		{"no db", sqlcoord.Options{Tables: sqlcoord.Tables{Dialect: dialect.SQLite}, RunID: "r"}, "Tables.DB"},
		{"zero dialect", sqlcoord.Options{Tables: sqlcoord.Tables{DB: db}, RunID: "r"}, "Tables.Dialect"},
		{"bad prefix", sqlcoord.Options{Tables: sqlcoord.Tables{DB: db, Dialect: dialect.SQLite, Prefix: "x; DROP"}, RunID: "r"}, "Tables.Prefix"},
		{"bad run id", sqlcoord.Options{Tables: good, RunID: "a b"}, "Options.RunID"},
		{"empty run id", sqlcoord.Options{Tables: good}, "Options.RunID"},
		{"negative poll", sqlcoord.Options{Tables: good, RunID: "r", Poll: -1}, "Options.Poll"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sqlcoord.New(tc.opts)
			require.ErrorIs(t, err, sqlcoord.ErrInvalid)
			require.ErrorIs(t, err, coordinate.ErrInvalid)
			assert.ErrorContains(t, err, tc.field)
		})
	}
	_, err := sqlcoord.NewOrchestrator(context.Background(), sqlcoord.OrchestratorOptions{Tables: good, RunID: "../etc"})
	require.ErrorIs(t, err, sqlcoord.ErrInvalid)
	assert.ErrorContains(t, err, "OrchestratorOptions.RunID")

	tb := tables(t, b, db)
	o := orchestrator(t, tb, "run-v")
	_, err = o.Send(context.Background(), coordinate.Event{Kind: "explode"})
	require.ErrorIs(t, err, coordinate.ErrInvalid)
	_, err = o.Send(context.Background(), coordinate.Event{Kind: coordinate.EventScale})
	require.ErrorIs(t, err, coordinate.ErrInvalid)
	_, err = o.AwaitReady(context.Background(), coordinate.Readiness{})
	require.ErrorIs(t, err, coordinate.ErrInvalid)
}

func TestQuorumAfterDeadline(t *testing.T) {
	b := sqliteBackend(t)
	ctx := context.Background()
	db := open(t, b)
	tb := tables(t, b, db)
	o := orchestrator(t, tb, "run-q")
	c, err := sqlcoord.New(fast(tb, "run-q"))
	require.NoError(t, err)
	a, err := c.Join(ctx, coordinate.Worker{ID: "a"})
	require.NoError(t, err)
	defer a.Leave(ctx, nil)
	z, err := c.Join(ctx, coordinate.Worker{ID: "z"})
	require.NoError(t, err)
	defer z.Leave(ctx, nil)
	require.NoError(t, a.SetState(ctx, coordinate.State{Status: coordinate.StatusReady}))

	_, err = o.AwaitReady(ctx, coordinate.Readiness{Workers: 3, Deadline: 50 * time.Millisecond})
	var re *coordinate.ReadinessError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, []string{"a"}, re.ReadyIDs)
	assert.Equal(t, []string{"z"}, re.Missing)
	assert.Equal(t, 1, re.NeverJoined)

	ready, err := o.AwaitReady(ctx, coordinate.Readiness{Workers: 3, Quorum: 1, Deadline: 50 * time.Millisecond})
	require.NoError(t, err)
	require.Len(t, ready, 1)
	assert.Equal(t, "a", ready[0].ID)
}
