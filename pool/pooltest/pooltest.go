// Package pooltest checks that a [pool.Pool] implementation behaves as the
// pool package documents. An adapter's tests call [Run] with a function that
// makes a fresh pool over a real database.
package pooltest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool"
)

// Options tells Run how to exercise the database behind the pools.
type Options struct {
	// Query must return exactly Rows rows on the database under test, e.g.
	// "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3" with Rows 3. Required.
	Query string
	// Rows is the number of rows Query returns; it must be at least 2, so that
	// a session that reads only the first row is caught.
	Rows int64
	// Conns is how many connections the warm-up tests open; zero means 4. The
	// pools that newPool makes must be able to hold that many.
	Conns int
	// ServerConns, if not nil, returns how many connections the database
	// server currently has from p (e.g. rows of pg_stat_activity with an
	// application_name unique to p). Run then checks that Warm really opens
	// Conns connections, that warming twice opens no more, and that Close
	// closes them. Leave it nil when the server cannot tell.
	ServerConns func(t *testing.T, p pool.Pool) int
	// CloseWait bounds how long Run waits for the server to see the
	// connections of a closed pool go away (backends exit asynchronously);
	// zero means 30 seconds. It is a correctness bound, not a speed limit.
	CloseWait time.Duration
}

// Run runs the conformance tests as subtests of t. newPool must return a new,
// unwarmed pool each time it is called, with nothing else using it; Run
// closes every pool it gets (newPool may also register t.Cleanup to close
// it: a second Close must return nil).
//
// What Run requires of a pool, beyond pool.Pool's documentation:
//   - Warm calls OnConn exactly Conns times, with indexes 0..Conns-1, no
//     error and End not before Start, and leaves Conns connections open;
//   - Warm with Conns <= 0 or Parallel < 0 returns an error matching
//     pool.ErrInvalidOptions whose text names the field;
//   - Warm with a cancelled context returns an error matching
//     context.Canceled, and Warm stops opening once its context is cancelled;
//   - Session.Query returns the number of rows, from several sessions on
//     concurrent goroutines (run the tests with -race);
//   - Session.Query after Session.Close returns pool.ErrClosed, and closing a
//     Session twice returns nil;
//   - Warm and Session after Close return pool.ErrClosed, and closing twice
//     returns nil.
func Run(t *testing.T, newPool func(t *testing.T) pool.Pool, opts Options) {
	t.Helper()
	require.NotEmpty(t, opts.Query, "pooltest.Options.Query is required")
	require.GreaterOrEqual(t, opts.Rows, int64(2), "pooltest.Options.Rows must be at least 2")
	if opts.Conns == 0 {
		opts.Conns = 4
	}
	if opts.CloseWait == 0 {
		opts.CloseWait = 30 * time.Second
	}
	open := func(t *testing.T) pool.Pool {
		p := newPool(t)
		require.NotNil(t, p)
		t.Cleanup(func() { assert.NoError(t, p.Close()) })
		return p
	}

	t.Run("WarmOpensConns", func(t *testing.T) {
		p := open(t)
		n := opts.Conns
		var mu sync.Mutex
		seen := make(map[int]pool.ConnInfo)
		err := p.Warm(context.Background(), pool.WarmOptions{Conns: n, OnConn: func(ci pool.ConnInfo) {
			mu.Lock()
			defer mu.Unlock()
			_, dup := seen[ci.Index]
			assert.False(t, dup, "OnConn called twice for index %d", ci.Index)
			seen[ci.Index] = ci
		}})
		require.NoError(t, err)
		require.Len(t, seen, n, "OnConn calls")
		for i := range n {
			ci, ok := seen[i]
			require.True(t, ok, "no OnConn call for index %d", i)
			assert.NoError(t, ci.Err, "index %d", i)
			assert.False(t, ci.Start.IsZero(), "index %d: Start not set", i)
			assert.False(t, ci.End.Before(ci.Start), "index %d: End %v before Start %v", i, ci.End, ci.Start)
		}
		if opts.ServerConns != nil {
			assert.Equal(t, n, opts.ServerConns(t, p), "server connections after Warm(%d)", n)
		}
		// A second warm-up finds the connections open and opens no more.
		require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: n, Parallel: 1}))
		if opts.ServerConns != nil {
			assert.Equal(t, n, opts.ServerConns(t, p), "server connections after a second Warm(%d)", n)
		}
	})

	t.Run("WarmBadOptions", func(t *testing.T) {
		p := open(t)
		for _, tc := range []struct {
			opts  pool.WarmOptions
			field string
		}{
			{pool.WarmOptions{Conns: 0}, "Conns"},
			{pool.WarmOptions{Conns: -1}, "Conns"},
			{pool.WarmOptions{Conns: 1, Parallel: -1}, "Parallel"},
		} {
			called := false
			tc.opts.OnConn = func(pool.ConnInfo) { called = true }
			err := p.Warm(context.Background(), tc.opts)
			require.Error(t, err, "%+v", tc.opts)
			assert.ErrorIs(t, err, pool.ErrInvalidOptions)
			assert.Contains(t, err.Error(), tc.field)
			assert.False(t, called, "OnConn called for invalid options %+v", tc.opts)
		}
	})

	t.Run("WarmCancelled", func(t *testing.T) {
		p := open(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := p.Warm(ctx, pool.WarmOptions{Conns: opts.Conns})
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)

		// Cancelled after the first connection: the rest are not all opened.
		ctx, cancel = context.WithCancel(context.Background())
		defer cancel()
		var mu sync.Mutex
		calls := 0
		err = p.Warm(ctx, pool.WarmOptions{Conns: opts.Conns, Parallel: 1, OnConn: func(pool.ConnInfo) {
			mu.Lock()
			calls++
			mu.Unlock()
			cancel()
		}})
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Less(t, calls, opts.Conns, "Warm kept opening after its context was cancelled")

		// The pool is still usable afterwards.
		require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: 1}))
	})

	t.Run("Query", func(t *testing.T) {
		p := open(t)
		s, err := p.Session(context.Background())
		require.NoError(t, err)
		for i := range 3 { // the first run may prepare, later ones reuse
			n, err := s.Query(context.Background(), opts.Query)
			require.NoError(t, err, "run %d", i)
			assert.Equal(t, opts.Rows, n, "run %d", i)
		}
		require.NoError(t, s.Close())
	})

	t.Run("ConcurrentSessions", func(t *testing.T) {
		p := open(t)
		require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: opts.Conns}))
		var wg sync.WaitGroup
		errs := make([]error, opts.Conns)
		for w := range opts.Conns {
			wg.Go(func() {
				errs[w] = worker(p, opts.Query, opts.Rows, 10)
			})
		}
		wg.Wait()
		for w, err := range errs {
			assert.NoError(t, err, "worker %d", w)
		}
	})

	t.Run("SessionClose", func(t *testing.T) {
		p := open(t)
		s, err := p.Session(context.Background())
		require.NoError(t, err)
		_, err = s.Query(context.Background(), opts.Query)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		assert.NoError(t, s.Close(), "second Session.Close")
		_, err = s.Query(context.Background(), opts.Query)
		assert.ErrorIs(t, err, pool.ErrClosed, "Query after Session.Close")
		// The connection went back: a new session works.
		s2, err := p.Session(context.Background())
		require.NoError(t, err)
		n, err := s2.Query(context.Background(), opts.Query)
		require.NoError(t, err)
		assert.Equal(t, opts.Rows, n)
		require.NoError(t, s2.Close())
	})

	t.Run("Close", func(t *testing.T) {
		p := newPool(t)
		require.NotNil(t, p)
		require.NoError(t, p.Warm(context.Background(), pool.WarmOptions{Conns: opts.Conns}))
		require.NoError(t, p.Close())
		assert.NoError(t, p.Close(), "second Close")
		assert.ErrorIs(t, p.Warm(context.Background(), pool.WarmOptions{Conns: 1}), pool.ErrClosed, "Warm after Close")
		s, err := p.Session(context.Background())
		assert.ErrorIs(t, err, pool.ErrClosed, "Session after Close")
		assert.Nil(t, s)
		if opts.ServerConns != nil {
			deadline := time.Now().Add(opts.CloseWait)
			n := opts.ServerConns(t, p)
			for n != 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				n = opts.ServerConns(t, p)
			}
			assert.Zero(t, n, "server connections after Close")
		}
	})
}

// worker takes a session, runs query runs times checking the row count, and
// closes the session.
func worker(p pool.Pool, query string, rows int64, runs int) (err error) {
	s, err := p.Session(context.Background())
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	for i := range runs {
		n, err := s.Query(context.Background(), query)
		if err != nil {
			return err
		}
		if n != rows {
			return fmt.Errorf("run %d: got %d rows, want %d", i, n, rows)
		}
	}
	return nil
}
