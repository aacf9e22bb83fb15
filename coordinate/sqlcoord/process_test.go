package sqlcoord_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/timing"
)

// child is a node process running childMain.
type child struct {
	cmd   *exec.Cmd
	lines chan string // its stdout, line by line; closed at EOF
	done  chan error  // its exit
}

// spawn starts a node process for run on db, with env added to its
// environment.
func spawn(t *testing.T, db database, tb sqlcoord.Tables, run, id string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "SQLCOORD_DRIVER="+db.driver, "SQLCOORD_DSN="+db.dsn,
		"SQLCOORD_PREFIX="+tb.Prefix, "SQLCOORD_RUN="+run, "SQLCOORD_NODE="+id)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, lines: make(chan string, 16), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
		close(c.lines)
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range c.lines {
		}
		<-c.done
	})
	return c
}

// line returns the child's next line of output.
func (c *child) line(t *testing.T) string {
	t.Helper()
	l, ok := <-c.lines
	require.True(t, ok, "node process ended early")
	return l
}

// exitCode waits for the child to end and returns its exit code.
func (c *child) exitCode(t *testing.T) int {
	t.Helper()
	for range c.lines {
	}
	err := <-c.done
	c.done <- err // for the cleanup
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

// TestNodeProcessesStartTogether: node processes on each database learn of
// one start instant; each reads it on its own clock, and they agree
// within the bounds their clock measurements state (the database runs on
// this host, so the true offsets are zero). Their results reach the
// orchestrator through the results store, and its timeline shows when
// each saw the start.
func TestNodeProcessesStartTogether(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		h := open(t, db)
		tb := tables(t, db, h)
		run := runID()
		o := orchestrator(t, backend(t, tb, run, nil))
		sink, err := sqlsink.New(h, db.d, sqlsink.Options{Prefix: tb.Prefix})
		require.NoError(t, err)
		// Before the nodes write to it: tables created by many processes at
		// once race on PostgreSQL's catalog.
		require.NoError(t, sink.CreateSchema(ctx))
		const n = 3
		children := make([]*child, n)
		for i := range children {
			children[i] = spawn(t, db, tb, run, fmt.Sprintf("proc%d", i))
		}
		sig, err := o.StartWhenReady(ctx, coordinate.Readiness{Nodes: n}, 100*time.Millisecond)
		require.NoError(t, err)
		_, oBound := o.ClockOffset()
		for _, c := range children {
			require.Equal(t, "joined", c.line(t))
			l := c.line(t)
			var at, bound int64
			_, err := fmt.Sscanf(l, "at %d bound %d", &at, &bound)
			require.NoError(t, err, "line %q", l)
			assert.LessOrEqual(t, abs(time.Unix(0, at).Sub(sig.At)), oBound+time.Duration(bound))
		}
		_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
		require.NoError(t, err)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		st, err := o.AwaitDone(cctx)
		require.NoError(t, err)
		require.Len(t, st, n)
		var nodes []string
		for i := range n {
			nodes = append(nodes, fmt.Sprintf("proc%d", i))
		}
		results, err := loadtest.Collect(cctx, sink, run, nodes)
		require.NoError(t, err)
		require.Len(t, results, n)
		for i, r := range results {
			assert.Equal(t, fmt.Sprintf("proc%d", i), r.Node)
			assert.Equal(t, run, r.RunID)
			assert.Len(t, r.Timeline.Find(timing.CoordStart), 1)
		}
		for _, c := range children {
			assert.Equal(t, 0, c.exitCode(t))
		}
		assert.Len(t, o.Timeline().Find(timing.CoordSeen), n, "the orchestrator records when each node saw the start")
	})
}

// TestKilledNodeLost kills a waiting node process: it stops beating and is
// declared lost, and the policy decides.
func TestKilledNodeLost(t *testing.T) {
	for _, policy := range []coordinate.LostPolicy{coordinate.LostContinue, coordinate.LostAbort} {
		t.Run(policy.String(), func(t *testing.T) {
			db := sqliteDatabase(t)
			ctx := context.Background()
			h := open(t, db)
			tb := tables(t, db, h)
			run := runID()
			o := orchestrator(t, backend(t, tb, run, nil), func(oo *coordinate.Options) {
				oo.MissedBeats, oo.OnLost = 50, policy // a second of silence: a loaded machine delays a live beat past 200ms
			})
			victim := spawn(t, db, tb, run, "victim")
			other := spawn(t, db, tb, run, "other")
			_, err := o.AwaitReady(ctx, coordinate.Readiness{Nodes: 2})
			require.NoError(t, err)
			require.Equal(t, "joined", victim.line(t))
			require.NoError(t, victim.cmd.Process.Kill())

			// Declared lost once its beats are MissedBeats old; the loop is
			// bounded by the context, not timed.
			lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
			defer lcancel()
			var lost []string
			for len(lost) == 0 && lctx.Err() == nil {
				lost, err = o.CheckLost(lctx)
				time.Sleep(10 * time.Millisecond)
			}
			require.Equal(t, []string{"victim"}, lost)
			assert.Equal(t, []string{"victim"}, o.Lost())
			ws, werr := o.Nodes(ctx)
			require.NoError(t, werr)
			assert.Equal(t, coordinate.StatusLost, ws[1].Status)
			assert.Len(t, o.Timeline().Find(timing.CoordLost), 1)
			if policy == coordinate.LostContinue {
				require.NoError(t, err)
				assert.Equal(t, coordinate.StatusReady, ws[0].Status)
				// The lost node no longer counts towards "all".
				ready, err := o.AwaitReady(ctx, coordinate.Readiness{Nodes: 2})
				require.NoError(t, err)
				require.Len(t, ready, 1)
				assert.Equal(t, "other", ready[0].ID)
				_, err = o.Start(ctx, time.Now())
				require.NoError(t, err)
				_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
				require.NoError(t, err)
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				_, err = o.AwaitDone(cctx)
				require.NoError(t, err)
				sink, err := sqlsink.New(h, db.d, sqlsink.Options{Prefix: tb.Prefix})
				require.NoError(t, err)
				results, err := loadtest.Collect(cctx, sink, run, []string{"other"})
				require.NoError(t, err)
				require.Len(t, results, 1)
				assert.Equal(t, 0, other.exitCode(t))
				return
			}
			require.ErrorIs(t, err, coordinate.ErrLost)
			assert.ErrorContains(t, err, "victim")
			assert.Equal(t, 3, other.exitCode(t), "the other node's Wait ends with ErrAborted")
		})
	}
}

// TestConcurrentJoinsAndStart runs many members in goroutines while the
// start is published, to exercise the ready-before-start rule under races:
// every member either starts at the published instant (within the clocks'
// bounds) or is refused as late, never started unsynchronised.
func TestConcurrentJoinsAndStart(t *testing.T) {
	db := sqliteDatabase(t)
	ctx := context.Background()
	h := open(t, db)
	tb := tables(t, db, h)
	run := runID()
	b := backend(t, tb, run, nil)
	// Eight members and the orchestrator write one SQLite file, which
	// takes one writer at a time: on a loaded machine a member's beats
	// can stall past fast()'s half second. Losing nodes is not what this
	// test is about, so its budget is ten seconds.
	slow := func(o *coordinate.Options) { o.MissedBeats = 500 }
	o := orchestrator(t, b, slow)
	copts := fast()
	slow(&copts)
	c := client(t, b, copts)
	var wg sync.WaitGroup
	const n = 8
	ats := make([]time.Time, n)
	bounds := make([]time.Duration, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			m, err := c.Join(ctx, coordinate.Node{ID: fmt.Sprint(i)})
			if err != nil {
				errs[i] = err
				return
			}
			_, bounds[i] = m.(coordinate.Clocked).ClockOffset()
			sig, err := m.Wait(ctx)
			ats[i], errs[i] = sig.At, err
			_ = m.Leave(ctx, err)
		})
	}
	// Start as soon as a quorum of one is there, while others still join.
	var err2 error
	for begin := time.Now(); ; {
		_, err2 = o.AwaitReady(ctx, coordinate.Readiness{Nodes: n, Quorum: 1, Deadline: 5 * time.Millisecond})
		if !errors.Is(err2, coordinate.ErrNotReady) || time.Since(begin) > time.Minute {
			break
		}
	}
	require.NoError(t, err2)
	sig, err := o.Start(ctx, time.Now().Add(20*time.Millisecond))
	require.NoError(t, err)
	wg.Wait()
	_, oBound := o.ClockOffset()
	started := 0
	for i := range n {
		if errs[i] != nil {
			require.ErrorIs(t, errs[i], coordinate.ErrLate)
			continue
		}
		started++
		assert.LessOrEqual(t, abs(ats[i].Sub(sig.At)), oBound+bounds[i], "node %d", i)
	}
	assert.Positive(t, started)
}

// abs is |d|.
func abs(d time.Duration) time.Duration { return max(d, -d) }
