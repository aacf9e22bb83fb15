package loadtest_test

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/startline/startline/pool"
)

// memPool is a Pool with no database behind it: its connections cost
// nothing to open and its queries return no rows. It counts what it is asked.
type memPool struct {
	warmErr    error // returned by Warm
	sessionErr func(n int) error
	warmed     atomic.Int64
	sessions   atomic.Int64
	mu         sync.Mutex
	open       int // sessions not yet closed
}

func (p *memPool) Warm(ctx context.Context, opts pool.WarmOptions) error {
	if p.warmErr != nil {
		return p.warmErr
	}
	return pool.WarmConns(ctx, opts, func(ctx context.Context, i int) (func(), error) {
		p.warmed.Add(1)
		return func() {}, nil
	})
}

func (p *memPool) Session(ctx context.Context) (pool.Session, error) {
	n := int(p.sessions.Add(1)) - 1
	if p.sessionErr != nil {
		if err := p.sessionErr(n); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	p.open++
	p.mu.Unlock()
	return &memSession{p: p}, nil
}

func (p *memPool) Close() error { return nil }

func (p *memPool) openSessions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

type memSession struct {
	p      *memPool
	closed bool
}

func (s *memSession) Query(ctx context.Context, query string, args ...any) (int64, error) {
	return 0, ctx.Err()
}

func (s *memSession) Close() error {
	if !s.closed {
		s.closed = true
		s.p.mu.Lock()
		s.p.open--
		s.p.mu.Unlock()
	}
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
