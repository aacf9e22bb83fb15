package sinktest

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/startline/startline/pool"
)

// memPool is the pool the suite's runs go through: no database, sessions
// that answer at once. It fails the warm-up or the sessions' Close when
// told to, so that the suite can make failed runs.
type memPool struct {
	warmErr  error // returned by Warm
	closeErr error // returned by every session's Close
}

func (p *memPool) Warm(ctx context.Context, opts pool.WarmOptions) error {
	if p.warmErr != nil {
		return p.warmErr
	}
	return pool.WarmConns(ctx, opts, func(context.Context, int) (func(), error) { return func() {}, nil })
}

func (p *memPool) Session(context.Context) (pool.Session, error) { return &memSession{p: p}, nil }

func (p *memPool) Close() error { return nil }

type memSession struct{ p *memPool }

// Query takes a little time, as a database round trip does, so that the
// suite's runs measure thousands of operations, not millions, and leave
// the processor to the sink under test.
func (s *memSession) Query(ctx context.Context, _ string, _ ...any) (int64, error) {
	t := time.NewTimer(100 * time.Microsecond)
	defer t.Stop()
	select {
	case <-t.C:
		return 1, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (s *memSession) Close() error { return s.p.closeErr }

// errLost is the error of the failing operation: a lost connection.
var errLost = fmt.Errorf("sinktest: connection lost: %w", io.ErrUnexpectedEOF)
