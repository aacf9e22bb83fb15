package precise

import (
	"context"
	"testing"
	"time"
)

func TestSleepReturnsNotBeforeAt(t *testing.T) {
	for _, ahead := range []time.Duration{-time.Millisecond, 0, 20 * time.Microsecond, 300 * time.Microsecond, 3 * time.Millisecond} {
		at := time.Now().Add(ahead)
		Sleep(at)
		if now := time.Now(); now.Before(at) {
			t.Errorf("ahead %v: returned %v before the instant", ahead, at.Sub(now))
		}
	}
}

func TestUntil(t *testing.T) {
	at := time.Now().Add(5 * time.Millisecond)
	if err := Until(t.Context(), at); err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(at) {
		t.Error("Until returned before the instant")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Until(ctx, time.Now().Add(time.Hour)) }()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("cancelled: got %v", err)
	}
}
