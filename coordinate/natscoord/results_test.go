package natscoord_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/natscoord"
	"github.com/startline/startline/loadtest"
)

var (
	_ loadtest.ResultStore  = (*natscoord.Results)(nil)
	_ loadtest.ResultSource = (*natscoord.Results)(nil)
	_ loadtest.StreamStore  = (*natscoord.Results)(nil)
	_ loadtest.StreamSource = (*natscoord.Results)(nil)
)

func results(t *testing.T) *natscoord.Results {
	t.Helper()
	nc, err := nats.Connect(embedded.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	r, err := natscoord.NewResults(nc)
	require.NoError(t, err)
	return r
}

func TestResults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := runID()
	t.Cleanup(func() { // the run's storage, results included
		b := backend(t, embedded.ClientURL(), run, false)
		_ = b.Drop(context.Background())
	})
	node, orch := results(t), results(t) // a node's connection and the orchestrator's

	got, err := orch.Results(ctx, run, []string{"a"})
	require.NoError(t, err, "before any node stored one")
	require.Empty(t, got)

	require.NoError(t, node.PutResult(ctx, run, "a", []byte(`{"v":1}`)))
	require.NoError(t, node.PutResult(ctx, run, "b", []byte(`{"v":2}`)))
	require.NoError(t, node.PutResult(ctx, run, "a", []byte(`{"v":3}`)), "replacing")
	// Larger than the server's largest message (1 MiB): chunked.
	large := make([]byte, 3<<20)
	_, _ = rand.Read(large)
	require.NoError(t, node.PutResult(ctx, run, "c.large", large))

	got, err = orch.Results(ctx, run, []string{"a", "b", "c.large", "missing"})
	require.NoError(t, err)
	require.Len(t, got, 3, "the node without a result is left out")
	require.Equal(t, `{"v":3}`, string(got["a"]), "the replacement")
	require.Equal(t, `{"v":2}`, string(got["b"]))
	require.True(t, bytes.Equal(large, got["c.large"]), "the large result comes back whole (%d bytes of %d)", len(got["c.large"]), len(large))

	got, err = orch.Results(ctx, run, []string{"b"})
	require.NoError(t, err)
	require.Equal(t, []string{"b"}, keys(got), "only the nodes asked for")

	err = node.PutResult(ctx, "bad run/id", "a", nil)
	require.ErrorIs(t, err, coordinate.ErrInvalid)
	require.ErrorContains(t, err, "bad run/id")
	require.ErrorIs(t, node.PutResult(ctx, run, "", nil), coordinate.ErrInvalid)
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
