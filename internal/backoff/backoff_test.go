package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDoublesUpToMax(t *testing.T) {
	b := Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	want := []time.Duration{10, 20, 40, 50, 50}
	for i, w := range want {
		if got := b.Next(); got != w*time.Millisecond {
			t.Fatalf("pause %d = %s, want %s", i, got, w*time.Millisecond)
		}
	}
	b.Reset()
	if got := b.Next(); got != 10*time.Millisecond {
		t.Fatalf("after Reset: %s, want 10ms", got)
	}
}

func TestNoCap(t *testing.T) {
	b := Backoff{Initial: time.Second}
	for range 100 { // far past any cap: must neither overflow nor go negative
		if d := b.Next(); d <= 0 {
			t.Fatalf("pause %s: want positive", d)
		}
	}
}

func TestJitterStaysInRange(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: 0.5}
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := b.Next()
		if d < 50*time.Millisecond || d > 100*time.Millisecond {
			t.Fatalf("pause %s outside [50ms, 100ms]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Fatalf("1000 jittered pauses took %d distinct values", len(seen))
	}
}

func TestZeroValueDoesNotPause(t *testing.T) {
	var b Backoff
	if d := b.Next(); d != 0 {
		t.Fatalf("zero Backoff paused %s", d)
	}
	if err := b.Sleep(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := Backoff{Initial: time.Hour}
	if err := b.Sleep(ctx); err != context.Canceled {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
}
