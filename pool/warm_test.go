package pool_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool"
)

// fakeConns counts what WarmConns does with the connections it opens.
type fakeConns struct {
	open, maxOpen, inFlight, maxInFlight atomic.Int64
	released                             atomic.Int64
	failAt                               int // index that fails; -1 for none
	block                                chan struct{}
}

func (f *fakeConns) openConn(ctx context.Context, i int) (func(), error) {
	in := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	storeMax(&f.maxInFlight, in)
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if i == f.failAt {
		return nil, errBoom
	}
	storeMax(&f.maxOpen, f.open.Add(1))
	return func() { f.open.Add(-1); f.released.Add(1) }, nil
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

var errBoom = errors.New("boom")

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		opts  pool.WarmOptions
		field string
	}{
		{pool.WarmOptions{}, "WarmOptions.Conns"},
		{pool.WarmOptions{Conns: -3}, "WarmOptions.Conns"},
		{pool.WarmOptions{Conns: 1, Parallel: -1}, "WarmOptions.Parallel"},
	} {
		err := tc.opts.Validate()
		require.Error(t, err, "%+v", tc.opts)
		assert.ErrorIs(t, err, pool.ErrInvalidOptions)
		var oe *pool.OptionError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, tc.field, oe.Field)
		assert.Contains(t, err.Error(), "pool: "+tc.field)
	}
	assert.NoError(t, pool.WarmOptions{Conns: 1}.Validate())
	assert.NoError(t, pool.WarmOptions{Conns: 1, Parallel: 3}.Validate())
}

func TestWarmConnsHoldsAllThenReleases(t *testing.T) {
	f := &fakeConns{failAt: -1}
	var calls atomic.Int64
	err := pool.WarmConns(context.Background(), pool.WarmOptions{Conns: 50, Parallel: 4, OnConn: func(ci pool.ConnInfo) {
		calls.Add(1)
		assert.NoError(t, ci.Err)
		assert.False(t, ci.End.Before(ci.Start))
	}}, f.openConn)
	require.NoError(t, err)
	assert.EqualValues(t, 50, calls.Load())
	assert.EqualValues(t, 50, f.maxOpen.Load(), "every connection held open until all were open")
	assert.EqualValues(t, 50, f.released.Load())
	assert.Zero(t, f.open.Load(), "all released")
	assert.LessOrEqual(t, f.maxInFlight.Load(), int64(4), "Parallel bound")
}

func TestWarmConnsDefaultParallel(t *testing.T) {
	// Each open waits until DefaultParallel opens are in flight at once: a
	// lower bound would deadlock, a higher one would show in maxInFlight.
	var inFlight, maxInFlight atomic.Int64
	full := make(chan struct{})
	var once sync.Once
	open := func(ctx context.Context, i int) (func(), error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		storeMax(&maxInFlight, n)
		if n == pool.DefaultParallel {
			once.Do(func() { close(full) })
		}
		<-full
		return func() {}, nil
	}
	require.NoError(t, pool.WarmConns(context.Background(), pool.WarmOptions{Conns: 3 * pool.DefaultParallel}, open))
	assert.EqualValues(t, pool.DefaultParallel, maxInFlight.Load())
}

func TestWarmConnsFailure(t *testing.T) {
	f := &fakeConns{failAt: 3}
	var calls atomic.Int64
	var failed atomic.Int64
	err := pool.WarmConns(context.Background(), pool.WarmOptions{Conns: 10, Parallel: 1, OnConn: func(ci pool.ConnInfo) {
		calls.Add(1)
		if ci.Err != nil {
			failed.Add(1)
			assert.Equal(t, 3, ci.Index)
		}
	}}, f.openConn)
	require.Error(t, err)
	assert.ErrorIs(t, err, errBoom)
	var we *pool.WarmError
	require.ErrorAs(t, err, &we)
	assert.Equal(t, pool.WarmError{Conns: 10, Opened: 3, Failed: 1, Skipped: 6, Errs: []error{errBoom}}, *we)
	assert.EqualError(t, err, "pool: warm: 1 of 10 connections failed, 6 not attempted: boom")
	assert.EqualValues(t, 4, calls.Load(), "no attempt after the failure with Parallel 1")
	assert.EqualValues(t, 1, failed.Load())
	assert.Zero(t, f.open.Load(), "opened connections released on failure")
	assert.EqualValues(t, 3, f.released.Load())
}

func TestWarmConnsFailureCancelsInFlight(t *testing.T) {
	// Index 0 fails while the others wait: they see the cancelled context.
	f := &fakeConns{failAt: -1, block: make(chan struct{})}
	open := func(ctx context.Context, i int) (func(), error) {
		if i == 0 {
			return nil, errBoom
		}
		return f.openConn(ctx, i)
	}
	err := pool.WarmConns(context.Background(), pool.WarmOptions{Conns: 4, Parallel: 4}, open)
	var we *pool.WarmError
	require.ErrorAs(t, err, &we)
	assert.Equal(t, we.Failed+we.Skipped, 4)
	assert.Zero(t, we.Opened)
	assert.ErrorIs(t, we.Errs[0], errBoom, "the first error comes first")
	assert.ErrorIs(t, err, errBoom)
}

func TestWarmConnsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fakeConns{failAt: -1}
	err := pool.WarmConns(ctx, pool.WarmOptions{Conns: 5, OnConn: func(pool.ConnInfo) { t.Error("OnConn called with a cancelled context") }}, f.openConn)
	require.ErrorIs(t, err, context.Canceled)
	var we *pool.WarmError
	require.ErrorAs(t, err, &we)
	assert.Equal(t, 5, we.Skipped)
	assert.Zero(t, f.released.Load())
}

func TestWarmConnsBadOptions(t *testing.T) {
	err := pool.WarmConns(context.Background(), pool.WarmOptions{}, func(context.Context, int) (func(), error) {
		t.Error("open called with invalid options")
		return func() {}, nil
	})
	assert.ErrorIs(t, err, pool.ErrInvalidOptions)
}
