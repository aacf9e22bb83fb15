package precise

import (
	"context"
	"fmt"
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

func TestUntilShared(t *testing.T) {
	// Many goroutines at instants close together and far apart, some
	// earlier than the one the shared waiter sleeps to when they come:
	// each returns at its own instant, not before.
	const n = 200
	errs := make(chan error, n)
	base := time.Now().Add(3 * time.Millisecond)
	for i := range n {
		at := base.Add(time.Duration(i%7)*300*time.Microsecond - time.Duration(i%3)*time.Millisecond)
		go func() {
			if err := UntilShared(t.Context(), at); err != nil {
				errs <- err
				return
			}
			if now := time.Now(); now.Before(at) {
				errs <- fmt.Errorf("returned %v before the instant", at.Sub(now))
				return
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- UntilShared(ctx, time.Now().Add(time.Hour)) }()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("cancelled: got %v", err)
	}
}
