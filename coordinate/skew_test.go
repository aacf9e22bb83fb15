package coordinate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
)

// remoteClock is a Memory whose reference clock is this process's, read
// after a delay each way: a host on the far side of a network whose clock
// is right.
type remoteClock struct {
	*coordinate.Memory
	delay time.Duration
}

func (c remoteClock) ReadClock(context.Context) (time.Time, time.Duration, error) {
	time.Sleep(c.delay)
	now := time.Now()
	time.Sleep(c.delay)
	return now, time.Microsecond, nil
}

// TestClockSkew: a member whose clock is skewed by Options.ClockSkew
// measures an offset that recovers the skew within the bound it states,
// stamps its records on the reference clock, and returns a Signal on this
// process's clock, so that SleepUntil starts it no earlier than T less
// that bound. Without a Clock the offset is the skew exactly.
func TestClockSkew(t *testing.T) {
	ctx := context.Background()
	for _, skew := range []time.Duration{500 * time.Millisecond, -500 * time.Millisecond, -37 * time.Millisecond} {
		for _, clocked := range []bool{false, true} {
			mem := coordinate.NewMemory()
			var b coordinate.Backend = mem
			if clocked {
				b = remoteClock{mem, time.Millisecond}
			}
			opts := coordinate.Options{Heartbeat: 20 * time.Millisecond, Poll: 5 * time.Millisecond, WaitTimeout: 30 * time.Second}
			o, err := coordinate.NewRun(ctx, b, opts)
			require.NoError(t, err)
			opts.ClockSkew = skew
			c, err := coordinate.NewClient(b, opts)
			require.NoError(t, err)
			before := time.Now()
			m, err := c.Join(ctx, coordinate.Node{ID: "far", Concurrency: 1})
			require.NoError(t, err)
			off, bound := m.(coordinate.Clocked).ClockOffset()
			if d := (off - skew).Abs(); d > bound {
				t.Errorf("skew %v (clock %v): offset %v is %v off, beyond its bound %v", skew, clocked, off, d, bound)
			}
			if !clocked && (off != skew || bound != 0) {
				t.Errorf("skew %v without a Clock: offset %v ± %v, want the skew ± 0", skew, off, bound)
			}
			if clocked && bound < time.Millisecond {
				t.Errorf("skew %v: bound %v below half the round trip (1ms)", skew, bound)
			}
			_, ob := o.ClockOffset()
			waited := make(chan error, 1)
			var sig coordinate.Signal
			var began time.Time
			go func() {
				var err error
				if sig, err = m.Wait(ctx); err == nil {
					err = coordinate.SleepUntil(ctx, sig.At)
					began = time.Now()
				}
				waited <- err
			}()
			ready, err := o.AwaitReady(ctx, coordinate.Readiness{Nodes: 1})
			require.NoError(t, err)
			// The node's times reach the orchestrator on its own clock.
			if r := ready[0].Ready; r.Before(before.Add(-bound-ob)) || r.After(time.Now().Add(bound+ob)) {
				t.Errorf("skew %v: node ready at %v, outside [%v, now] within the bounds", skew, r, before)
			}
			pub, err := o.Start(ctx, time.Now().Add(30*time.Millisecond))
			require.NoError(t, err)
			require.NoError(t, <-waited)
			if d := sig.At.Sub(pub.At).Abs(); d > bound+ob {
				t.Errorf("skew %v: the member's T is %v from the orchestrator's, beyond the bounds %v", skew, d, bound+ob)
			}
			if began.Before(pub.At.Add(-bound - ob)) {
				t.Errorf("skew %v: began %v before T, beyond the bounds %v", skew, pub.At.Sub(began), bound+ob)
			}
			require.NoError(t, m.Leave(ctx, nil))
		}
	}
}

// TestClockSkewRefused: a skew beyond MaxClockSkew is refused by name, and
// so is any skew of the orchestrator.
func TestClockSkewRefused(t *testing.T) {
	_, err := coordinate.NewClient(coordinate.NewMemory(), coordinate.Options{ClockSkew: -coordinate.MaxClockSkew - 1})
	if !errors.Is(err, coordinate.ErrInvalid) || !contains(err, "Options.ClockSkew") {
		t.Errorf("a skew beyond MaxClockSkew: %v", err)
	}
	_, err = coordinate.NewRun(context.Background(), coordinate.NewMemory(), coordinate.Options{ClockSkew: time.Millisecond})
	if !errors.Is(err, coordinate.ErrInvalid) || !contains(err, "Options.ClockSkew") {
		t.Errorf("an orchestrator's skew: %v", err)
	}
}

func contains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }
