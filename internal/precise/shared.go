package precise

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// UntilShared returns at the instant at, as Until does, or with ctx's
// error when ctx ends first; but the goroutines of this process that wait
// at once share one precise waiter for their last MaxSleep: a goroutine of
// this package sleeps in the kernel until the earliest of their instants,
// releases every caller whose instant has come, and goes on to the next.
// A thousand members of a fleet simulated in one process then need one
// thread in the kernel at their start, not a thousand waking together
// and competing for the cores; a caller whose instant comes before the one
// the waiter is sleeping to waits on its own, as Until does. The waiter
// runs only while someone waits.
func UntilShared(ctx context.Context, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d := time.Until(at) - MaxSleep; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	shared.sleep(at)
	return ctx.Err()
}

// shared is the process's shared waiter.
var shared group

// group is a shared waiter: the callers waiting, earliest first, and
// whether its goroutine runs and, if so, the instant it sleeps to.
type group struct {
	mu      sync.Mutex
	q       waitHeap
	running bool
	target  time.Time // the instant the goroutine sleeps or spins to
}

type waiter struct {
	at   time.Time
	done chan struct{}
}

// sleep returns at the instant at: released by the group's goroutine, or
// on its own if that goroutine is waiting for a later instant.
func (g *group) sleep(at time.Time) {
	if !time.Now().Before(at) {
		return
	}
	g.mu.Lock()
	if g.running && at.Before(g.target) {
		g.mu.Unlock()
		Sleep(at)
		return
	}
	w := &waiter{at: at, done: make(chan struct{})}
	heap.Push(&g.q, w)
	if !g.running {
		g.running = true
		go g.serve()
	}
	g.mu.Unlock()
	<-w.done
}

// serve releases the waiters in the order of their instants, each at its
// instant, and ends when none is left.
func (g *group) serve() {
	for {
		g.mu.Lock()
		if len(g.q) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		at := g.q[0].at
		g.target = at
		g.mu.Unlock()
		Sleep(at)
		now := time.Now()
		g.mu.Lock()
		for len(g.q) > 0 && !g.q[0].at.After(now) {
			close(heap.Pop(&g.q).(*waiter).done)
		}
		g.mu.Unlock()
	}
}

// waitHeap orders waiters by instant (container/heap).
type waitHeap []*waiter

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h waitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waitHeap) Push(x any)        { *h = append(*h, x.(*waiter)) }
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return w
}
