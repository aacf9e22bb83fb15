package loadtest_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
)

// stuckStore stores nothing until ctx ends, or fails at once.
type stuckStore struct {
	fail  error
	calls atomic.Int64
}

func (s *stuckStore) PutRecord(ctx context.Context, _, _ string, _ int64, _ []byte) error {
	s.calls.Add(1)
	if s.fail != nil {
		return s.fail
	}
	<-ctx.Done()
	return ctx.Err()
}

// What could not be streamed is counted and said, never dropped silently;
// a store that hangs does not hold the run past StreamFlush, and no
// goroutine outlives Run (goleak, in TestMain).
func TestStreamCountsWhatWasNotSent(t *testing.T) {
	t.Run("failing store", func(t *testing.T) {
		st := &stuckStore{fail: errors.New("store down")}
		cfg := baseConfig(&memPool{})
		cfg.Stream, cfg.Interval = st, 10*time.Millisecond
		r, err := loadtest.New(cfg)
		require.NoError(t, err)
		res, err := r.Run(context.Background())
		require.NoError(t, err, "a failing stream does not fail the run")
		require.NotNil(t, res.Stream)
		s := res.Stream
		assert.EqualValues(t, len(res.Intervals), s.Records)
		assert.Zero(t, s.Sent)
		assert.Equal(t, s.Records, s.Dropped+s.Unsent)
		assert.Positive(t, s.Unsent)
		assert.Contains(t, s.Err, "store down")
		var text bytes.Buffer
		require.NoError(t, res.WriteText(&text))
		assert.Contains(t, text.String(), "stream: 0 of ")
		assert.Contains(t, text.String(), "NOT SENT: ")
		assert.Contains(t, text.String(), "store down")
	})
	t.Run("hanging store", func(t *testing.T) {
		st := &stuckStore{}
		cfg := baseConfig(&memPool{})
		cfg.Stream, cfg.Interval, cfg.Duration = st, 2*time.Millisecond, 400*time.Millisecond
		r, err := loadtest.New(cfg)
		require.NoError(t, err)
		res, err := r.Run(context.Background()) // returns: the flush is bounded by StreamFlush
		require.NoError(t, err)
		s := res.Stream
		assert.EqualValues(t, 1, st.calls.Load(), "one store at a time, and it never returned until the end")
		assert.Zero(t, s.Sent)
		assert.Greater(t, s.Records, int64(loadtest.StreamQueue), "more intervals than the queue holds")
		assert.Positive(t, s.Dropped, "the queue filled: the rest were dropped, counted")
		assert.Equal(t, s.Records, s.Dropped+s.Unsent)
		assert.Contains(t, s.String(), "dropped (queue full)")
	})
}
