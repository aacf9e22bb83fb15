package natscoord_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate/natscoord"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sinktest"
)

// stream is a Results on a connection of its own, for its streamed
// intervals.
func stream(t *testing.T) *natscoord.Results { return results(t) }

// TestStreamConformance runs loadtest's stream suite on the embedded
// server: a node's connection stores, the orchestrator's reads. Each
// subtest's run is dropped at its end, stream included.
func TestStreamConformance(t *testing.T) {
	sinktest.RunStream(t, sinktest.StreamHarness{New: func(t *testing.T) (loadtest.StreamStore, loadtest.StreamSource) {
		t.Cleanup(func() {
			for _, suffix := range []string{"", "-other"} {
				b := backend(t, embedded.ClientURL(), sinktestRun(t)+suffix, false)
				_ = b.Drop(context.Background())
			}
		})
		return stream(t), stream(t)
	}})
}

// sinktestRun is the run id sinktest gives subtest t.
func sinktestRun(t *testing.T) string {
	name := t.Name()
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			name = name[i+1:]
			break
		}
	}
	return "sinktest-" + name
}

// Incremental reads return what came since, and a read from a seq below
// what was let go reads the stream whole again.
func TestStreamIncremental(t *testing.T) {
	ctx := context.Background()
	run := runID()
	t.Cleanup(func() { _ = backend(t, embedded.ClientURL(), run, false).Drop(ctx) })
	node, orch := stream(t), stream(t)
	got, err := orch.Records(ctx, run, 0)
	require.NoError(t, err, "before any record")
	assert.Empty(t, got)
	for seq := range int64(4) {
		require.NoError(t, node.PutRecord(ctx, run, "a", seq, []byte{byte('0' + seq)}))
	}
	got, err = orch.Records(ctx, run, 2)
	require.NoError(t, err)
	assert.ElementsMatch(t, [][]byte{[]byte("2"), []byte("3")}, got)
	require.NoError(t, node.PutRecord(ctx, run, "a", 4, []byte("4")))
	require.NoError(t, node.PutRecord(ctx, run, "a", 4, []byte("4")), "a retry is stored once")
	got, err = orch.Records(ctx, run, 3)
	require.NoError(t, err)
	assert.ElementsMatch(t, [][]byte{[]byte("3"), []byte("4")}, got)
	got, err = orch.Records(ctx, run, 0)
	require.NoError(t, err)
	assert.ElementsMatch(t, [][]byte{[]byte("0"), []byte("1"), []byte("2"), []byte("3"), []byte("4")}, got, "the whole stream, each record once")
	_, err = orch.Records(ctx, "bad run id", 0)
	assert.ErrorIs(t, err, natscoord.ErrInvalid)
	assert.ErrorIs(t, node.PutRecord(ctx, run, "", 0, nil), natscoord.ErrInvalid, "a record without its node")

	// More than one fetch's batch, read from a seq on, then whole again.
	for seq := range int64(600) {
		require.NoError(t, node.PutRecord(ctx, run, "b", seq, []byte(strconv.FormatInt(seq, 10))))
	}
	got, err = orch.Records(ctx, run, 590)
	require.NoError(t, err)
	assert.Len(t, got, 10, "b's 590-599 (a's records are below 590)")
	got, err = orch.Records(ctx, run, 0)
	require.NoError(t, err)
	assert.Len(t, got, 605, "every record of both nodes, once")
}
