package sqlcoord_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/timing"
)

// child is a worker process running childMain.
type child struct {
	cmd   *exec.Cmd
	lines chan string // its stdout, line by line; closed at EOF
	done  chan error  // its exit
}

// spawn starts a worker process for run on b's database, with env added
// to its environment.
func spawn(t *testing.T, b backend, tb sqlcoord.Tables, run, id string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "SQLCOORD_DRIVER="+b.driver, "SQLCOORD_DSN="+b.dsn,
		"SQLCOORD_PREFIX="+tb.Prefix, "SQLCOORD_RUN="+run, "SQLCOORD_WORKER="+id)
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
	require.True(t, ok, "worker process ended early")
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

func TestWorkerProcessesStartTogether(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := open(t, b)
		tb := tables(t, b, db)
		o := orchestrator(t, tb, "run-p")
		const n = 3
		children := make([]*child, n)
		for i := range children {
			children[i] = spawn(t, b, tb, "run-p", fmt.Sprintf("proc%d", i))
		}
		sig, err := o.StartWhenReady(ctx, coordinate.Readiness{Workers: n}, 100*time.Millisecond)
		require.NoError(t, err)
		_, oBound := o.ClockOffset()
		for _, c := range children {
			require.Equal(t, "joined", c.line(t))
			l := c.line(t)
			at, err := strconv.ParseInt(strings.TrimPrefix(l, "at "), 10, 64)
			require.NoError(t, err, "line %q", l)
			// Same host, same instant: agreement within the bounds (each
			// well under 10ms on one host).
			assert.LessOrEqual(t, abs(time.Unix(0, at).Sub(sig.At)), oBound+10*time.Millisecond)
		}
		_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
		require.NoError(t, err)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		results, err := o.Collect(cctx)
		require.NoError(t, err)
		require.Len(t, results, n)
		for i, r := range results {
			assert.Equal(t, fmt.Sprintf("proc%d", i), r.Node)
			assert.Equal(t, "run-p", r.RunID)
			assert.Len(t, r.Timeline.Find(timing.CoordStart), 1)
		}
		for _, c := range children {
			assert.Equal(t, 0, c.exitCode(t))
		}
		seen := o.Timeline().Find("coord.seen")
		assert.Len(t, seen, n, "the orchestrator records when each worker saw the start")
	})
}

// TestKilledWorkerLost kills a waiting worker process: it stops beating and
// is declared lost, and the policy decides.
func TestKilledWorkerLost(t *testing.T) {
	for _, policy := range []sqlcoord.LostPolicy{sqlcoord.LostContinue, sqlcoord.LostAbort} {
		t.Run(policy.String(), func(t *testing.T) {
			b := sqliteBackend(t)
			ctx := context.Background()
			db := open(t, b)
			tb := tables(t, b, db)
			o := orchestrator(t, tb, "run-k", func(oo *sqlcoord.OrchestratorOptions) {
				oo.MissedBeats, oo.OnLost = 10, policy // 200ms of silence
			})
			victim := spawn(t, b, tb, "run-k", "victim")
			other := spawn(t, b, tb, "run-k", "other")
			_, err := o.AwaitReady(ctx, coordinate.Readiness{Workers: 2})
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
			ws, werr := o.Workers(ctx)
			require.NoError(t, werr)
			assert.Equal(t, coordinate.StatusLost, ws[1].Status)
			assert.Len(t, o.Timeline().Find(sqlcoord.PhaseLost), 1)
			if policy == sqlcoord.LostContinue {
				require.NoError(t, err)
				assert.Equal(t, coordinate.StatusReady, ws[0].Status)
				// The lost worker no longer counts towards "all".
				ready, err := o.AwaitReady(ctx, coordinate.Readiness{Workers: 2})
				require.NoError(t, err)
				require.Len(t, ready, 1)
				assert.Equal(t, "other", ready[0].ID)
				_, err = o.Start(ctx, time.Now())
				require.NoError(t, err)
				_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
				require.NoError(t, err)
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				results, err := o.Collect(cctx)
				require.NoError(t, err)
				require.Len(t, results, 1)
				assert.Equal(t, 0, other.exitCode(t))
				return
			}
			require.ErrorIs(t, err, sqlcoord.ErrLost)
			assert.ErrorContains(t, err, "victim")
			assert.Equal(t, 3, other.exitCode(t), "the other worker's Wait ends with ErrAborted")
		})
	}
}

// TestConcurrentJoinsAndStart runs many members in goroutines while the
// start is published, to exercise the ready-before-start rule under races:
// every member either starts at the published instant or is refused as
// late, never started unsynchronised.
func TestConcurrentJoinsAndStart(t *testing.T) {
	b := sqliteBackend(t)
	ctx := context.Background()
	db := open(t, b)
	tb := tables(t, b, db)
	o := orchestrator(t, tb, "run-r")
	c, err := sqlcoord.New(fast(tb, "run-r"))
	require.NoError(t, err)
	var wg sync.WaitGroup
	const n = 8
	ats := make([]time.Time, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			m, err := c.Join(ctx, coordinate.Worker{ID: fmt.Sprint(i)})
			if err != nil {
				errs[i] = err
				return
			}
			sig, err := m.Wait(ctx)
			ats[i], errs[i] = sig.At, err
			_ = m.Leave(ctx, err)
		})
	}
	// Start as soon as a quorum of one is there, while others still join.
	var err2 error
	for begin := time.Now(); ; {
		_, err2 = o.AwaitReady(ctx, coordinate.Readiness{Workers: n, Quorum: 1, Deadline: 5 * time.Millisecond})
		if !errors.Is(err2, coordinate.ErrNotReady) || time.Since(begin) > time.Minute {
			break
		}
	}
	require.NoError(t, err2)
	sig, err := o.Start(ctx, time.Now().Add(20*time.Millisecond))
	require.NoError(t, err)
	wg.Wait()
	started := 0
	for i := range n {
		if errs[i] != nil {
			require.ErrorIs(t, errs[i], coordinate.ErrLate)
			continue
		}
		started++
		assert.LessOrEqual(t, abs(ats[i].Sub(sig.At)), 10*time.Millisecond)
	}
	assert.Positive(t, started)
}
