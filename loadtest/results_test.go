package loadtest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
)

// byteStore is a results store over bytes, as a message system's would
// be: it knows nothing of loadtest's types.
type byteStore struct {
	mu   sync.Mutex
	docs map[string][]byte // run/node -> encoded result
}

func (s *byteStore) PutResult(_ context.Context, runID, node string, doc []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.docs == nil {
		s.docs = map[string][]byte{}
	}
	s.docs[runID+"/"+node] = append([]byte(nil), doc...)
	return nil
}

func (s *byteStore) Results(_ context.Context, runID string, nodes []string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for _, n := range nodes {
		if d, ok := s.docs[runID+"/"+n]; ok {
			out[n] = d
		}
	}
	return out, nil
}

// TestResultSinkAndCollect: two Runners store their results through
// ResultSink, one after Collect has begun to wait; Collect returns both,
// decoded, sorted by node.
func TestResultSinkAndCollect(t *testing.T) {
	store := &byteStore{}
	run := func(node string) *loadtest.Result {
		cfg := baseConfig(&memPool{})
		cfg.RunID, cfg.Node = "run-r", node
		cfg.Sinks = []loadtest.Sink{loadtest.ResultSink(store)}
		r, err := loadtest.New(cfg)
		require.NoError(t, err)
		res, err := r.Run(context.Background())
		require.NoError(t, err)
		return res
	}
	b := run("b")
	got := make(chan []*loadtest.Result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		rs, err := loadtest.Collect(ctx, store, "run-r", []string{"b", "a"})
		assert.NoError(t, err)
		got <- rs
	}()
	a := run("a")
	rs := <-got
	require.Len(t, rs, 2)
	assert.Equal(t, "a", rs[0].Node)
	assert.Equal(t, "b", rs[1].Node)
	assert.Equal(t, a.Phases.Measure.Ops, rs[0].Phases.Measure.Ops)
	assert.Equal(t, b.Phases.Measure.Ops, rs[1].Phases.Measure.Ops)
	assert.Equal(t, a.StartedAt.UnixNano(), rs[0].StartedAt.UnixNano())
}

// TestCollectNamesMissingAndBadResults: when ctx ends, Collect returns
// what it has and names the nodes missing; a result that contradicts
// itself, or belongs to another node, is reported by node (and field)
// without losing the good one.
func TestCollectNamesMissingAndBadResults(t *testing.T) {
	ctx := context.Background()
	store := &byteStore{}
	require.NoError(t, loadtest.ResultSink(store).Write(ctx, &loadtest.Result{RunID: "run-c", Node: "good", StartedAt: time.Unix(1, 0).UTC()}))
	require.NoError(t, store.PutResult(ctx, "run-c", "liar",
		[]byte(`{"run_id":"run-c","node":"liar","started_at":"2026-01-01T00:00:00Z","phases":{"measure":{"ops":1,"errors":5}}}`)))
	require.NoError(t, store.PutResult(ctx, "run-c", "other",
		[]byte(`{"run_id":"run-c","node":"impostor","started_at":"2026-01-01T00:00:00Z"}`)))
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	rs, err := loadtest.Collect(cctx, store, "run-c", []string{"good", "liar", "other", "gone"})
	require.ErrorIs(t, err, loadtest.ErrMissingResults)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, loadtest.ErrBadResult)
	var de *loadtest.DecodeError
	assert.ErrorAs(t, err, &de, "the decoder's error is wrapped")
	msg := err.Error()
	assert.Contains(t, msg, "no result from [gone]")
	assert.Contains(t, msg, `node "liar"`)
	assert.Contains(t, msg, "phases.measure.errors")
	assert.Contains(t, msg, `node "impostor"`)
	require.Len(t, rs, 1, "the good result is returned")
	assert.Equal(t, "good", rs[0].Node)

	// All there, the bad ones included: no waiting, no missing.
	rs, err = loadtest.Collect(ctx, store, "run-c", []string{"good", "liar"})
	require.Error(t, err)
	assert.NotErrorIs(t, err, loadtest.ErrMissingResults)
	require.Len(t, rs, 1)
}
