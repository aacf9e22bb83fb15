package coordinate

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// skewedClock is a reference clock running skew behind this host's, read
// after delay and answered after delay again: as asymmetric as a network.
type skewedClock struct {
	skew, before, after time.Duration
	res                 time.Duration
	reads               int
}

func (c *skewedClock) ReadClock(context.Context) (time.Time, time.Duration, error) {
	c.reads++
	time.Sleep(c.before)
	now := time.Now().Add(-c.skew)
	time.Sleep(c.after)
	return now, c.res, nil
}

// TestMeasureClockRecoversSkew: whatever the delays on the way, the
// offset measured lies within the bound it states of the true skew, the
// bound covers the resolution, and every sample is read.
func TestMeasureClockRecoversSkew(t *testing.T) {
	for _, c := range []*skewedClock{
		{skew: 0},
		{skew: 500 * time.Millisecond, before: 2 * time.Millisecond},
		{skew: -300 * time.Millisecond, after: 3 * time.Millisecond, res: time.Millisecond},
		{skew: time.Hour, before: time.Millisecond, after: time.Millisecond, res: time.Microsecond},
	} {
		off, bound, err := measureClock(context.Background(), c, 5, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d := max(off-c.skew, c.skew-off); d > bound {
			t.Errorf("skew %v: offset %v is %v off, outside its bound %v", c.skew, off, d, bound)
		}
		if bound < c.res || bound < (c.before+c.after)/2 {
			t.Errorf("skew %v: bound %v below the resolution %v or half the least round trip", c.skew, bound, c.res)
		}
		if c.reads != 5 {
			t.Errorf("%d reads, want 5", c.reads)
		}
	}
	_, _, err := measureClock(context.Background(), failingClock{}, 3, 0)
	if err == nil || !strings.Contains(err.Error(), "reference clock") {
		t.Errorf("a failing clock: %v", err)
	}
}

type failingClock struct{}

func (failingClock) ReadClock(context.Context) (time.Time, time.Duration, error) {
	return time.Time{}, 0, errors.New("down")
}

// TestWarnOnceBounded: a key is reported once, and memory is bounded: past
// maxWarned keys the caller is told once.
func TestWarnOnceBounded(t *testing.T) {
	var w warnOnce
	log, full := w.first("a")
	if !log || full {
		t.Fatal("a new key is not logged")
	}
	if log, _ = w.first("a"); log {
		t.Fatal("the same key logged again")
	}
	for i := range maxWarned - 1 {
		if log, _ = w.first(string(rune('b' + i))); !log {
			t.Fatalf("key %d not logged", i)
		}
	}
	if log, full = w.first("one too many"); log || !full {
		t.Fatalf("past the bound: log %v, full %v; want false, true", log, full)
	}
	if log, full = w.first("another"); log || full {
		t.Fatal("full is said once")
	}
	if len(w.seen) != maxWarned {
		t.Fatalf("%d keys remembered, want %d", len(w.seen), maxWarned)
	}
}

func TestClip(t *testing.T) {
	if got := clip("short"); got != "short" {
		t.Errorf("clip(short) = %q", got)
	}
	long := strings.Repeat("é", 100) // two bytes each
	got := clip(long)
	if len(got) > maxClip+3 || !strings.HasSuffix(got, "...") || !strings.HasPrefix(long, strings.TrimSuffix(got, "...")) {
		t.Errorf("clip of %d bytes = %q", len(long), got)
	}
}

// slowAtFirst is a Memory whose clock (this process's, skewed) answers its
// first slow reads after a delay each way, and the later ones at once.
type slowAtFirst struct {
	*Memory
	skew  time.Duration
	slow  int
	delay time.Duration
	mu    sync.Mutex
	reads int
	at    []time.Time // when each read began
}

func (c *slowAtFirst) ReadClock(context.Context) (time.Time, time.Duration, error) {
	c.mu.Lock()
	c.reads++
	c.at = append(c.at, time.Now())
	slow := c.reads <= c.slow
	c.mu.Unlock()
	if slow {
		time.Sleep(c.delay)
	}
	now := time.Now().Add(-c.skew)
	if slow {
		time.Sleep(c.delay)
	}
	return now, time.Microsecond, nil
}

// TestLeadClockSamples: readings in the lead whose round trip is shorter
// than those of Join tighten the bound, the offset stays within it, and T
// is converted with it; none begins before an eighth of the lead has
// passed, while the start still travels to the rest of a fleet; with
// LeadClockSamples negative none is taken.
func TestLeadClockSamples(t *testing.T) {
	for _, lead := range []int{3, -1} {
		ctx := context.Background()
		mem := NewMemory()
		clk := &slowAtFirst{Memory: mem, skew: 40 * time.Millisecond, slow: 2, delay: 5 * time.Millisecond}
		opts := Options{ClockSamples: 2, LeadClockSamples: lead}
		o, err := NewRun(ctx, mem, opts)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewClient(clk, opts)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Join(ctx, Node{ID: "n1"})
		if err != nil {
			t.Fatal(err)
		}
		_, joinBound := m.(Clocked).ClockOffset()
		done := make(chan error, 1)
		var sig Signal
		go func() {
			var err error
			sig, err = m.Wait(ctx)
			done <- err
		}()
		pub, err := o.StartWhenReady(ctx, Readiness{Nodes: 1}, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		off, bound := m.(Clocked).ClockOffset()
		if d := (off - clk.skew).Abs(); d > bound {
			t.Errorf("lead %d: offset %v is %v off, outside its bound %v", lead, off, d, bound)
		}
		if got, want := sig.At, pub.At.Add(off); !got.Equal(want) {
			t.Errorf("lead %d: T %v on the member's clock, want the published one plus the offset, %v", lead, got, want)
		}
		clk.mu.Lock()
		reads, at := clk.reads, clk.at
		clk.mu.Unlock()
		// The member saw the start after its publication: its readings
		// begin an eighth of the rest of the lead after that, or later.
		hold := pub.At.Add(-spinWindow)
		earliest := pub.Published.Add(hold.Sub(pub.Published) / 8)
		for i, a := range at[min(opts.ClockSamples, len(at)):] { // after Join's
			if a.Before(earliest) {
				t.Errorf("lead %d: reading %d in the lead began %v after the publication, before an eighth of the lead (%v)",
					lead, i+1, a.Sub(pub.Published), earliest.Sub(pub.Published))
			}
		}
		switch {
		case lead > 0 && (bound >= joinBound || reads != 2+lead):
			t.Errorf("lead %d: bound %v after the lead (%v at Join), %d readings; want tighter, %d", lead, bound, joinBound, reads, 2+lead)
		case lead < 0 && (bound != joinBound || reads != 2):
			t.Errorf("lead %d: bound %v (%v at Join), %d readings; want the same, 2", lead, bound, joinBound, reads)
		}
		if lead > 0 {
			// The instants themselves, drawn many times: from an eighth
			// to a half of the time to the end of the hold.
			now := time.Now()
			until := now.Add(800 * time.Millisecond)
			for range 100 {
				for _, a := range m.(*member).leadClock(now, until) {
					if d := a.Sub(now); d < 100*time.Millisecond || d >= 400*time.Millisecond {
						t.Fatalf("lead %d: a reading %v into an 800 ms hold, want from 100 to 400 ms", lead, d)
					}
				}
			}
		}
		if err := m.Leave(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
}
