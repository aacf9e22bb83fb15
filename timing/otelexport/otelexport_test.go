package otelexport_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/startline/startline/timing"
	"github.com/startline/startline/timing/otelexport"
)

const ms = time.Millisecond

var anchor = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func timeline() timing.Timeline {
	return timing.Timeline{
		Node: "a", Anchor: anchor, Marks: []timing.Mark{
			{Phase: timing.PoolInit, Worker: timing.Process, Start: 0, End: 40 * ms},
			{Phase: timing.PoolConn, Worker: timing.Process, Start: 1 * ms, End: 20 * ms, Detail: "conn=0"},
			{Phase: timing.PoolConn, Worker: timing.Process, Start: 2 * ms, End: 39 * ms, Detail: "conn=1"},
			{Phase: timing.CoordWait, Worker: timing.Process, Start: 40 * ms, End: 100 * ms},
			{Phase: timing.CoordStart, Worker: timing.Process, Start: 95 * ms, End: 95 * ms},
			{Phase: timing.ResultsTestStart, Worker: timing.Process, Start: 100 * ms, End: 130 * ms, Err: "sink down"},
			{Phase: timing.QueryFirst, Worker: 0, Start: 101 * ms, End: 103 * ms},
			{Phase: timing.QueryFirst, Worker: 1, Start: 102 * ms, End: 105 * ms},
			{Phase: timing.Measure, Worker: timing.Process, Start: 101 * ms, End: 1101 * ms},
		},
	}
}

func export(t *testing.T, tl timing.Timeline, attrs ...attribute.KeyValue) []sdktrace.ReadOnlySpan {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	require.NoError(t, otelexport.Export(t.Context(), tp, "run-1", tl, attrs...))
	return exp.GetSpans().Snapshots()
}

func attr(s sdktrace.ReadOnlySpan, key string) any {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.AsInterface()
		}
	}
	return nil
}

func TestExportSpanTree(t *testing.T) {
	spans := export(t, timeline(), attribute.String("build", "abc123"))
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	// 8 spans for the marks (the instant is an event), a node and a run.
	require.Len(t, spans, 10)
	require.Len(t, byName[otelexport.RunSpanName], 1)
	require.Len(t, byName[otelexport.NodeSpanName], 1)
	run, node := byName[otelexport.RunSpanName][0], byName[otelexport.NodeSpanName][0]

	assert.False(t, run.Parent().IsValid(), "the run span is a root")
	assert.Equal(t, run.SpanContext().SpanID(), node.Parent().SpanID())
	assert.Equal(t, "run-1", attr(run, "startline.run_id"))
	assert.Equal(t, "abc123", attr(run, "build"), "the attributes are the run span's")
	assert.Nil(t, attr(node, "build"))
	assert.Equal(t, "a", attr(node, "startline.node"))
	assert.Equal(t, anchor, run.StartTime().UTC())
	assert.Equal(t, anchor.Add(1101*ms), run.EndTime().UTC())
	for _, s := range spans {
		assert.Equal(t, run.SpanContext().TraceID(), s.SpanContext().TraceID(), "one trace")
	}

	// Phases hang under the node; pool.conn under pool.init.
	poolInit := byName["pool.init"][0]
	assert.Equal(t, node.SpanContext().SpanID(), poolInit.Parent().SpanID())
	require.Len(t, byName["pool.conn"], 2)
	for _, c := range byName["pool.conn"] {
		assert.Equal(t, poolInit.SpanContext().SpanID(), c.Parent().SpanID())
	}
	conn1 := byName["pool.conn"][1]
	assert.Equal(t, "conn=1", attr(conn1, "startline.detail"))
	assert.Equal(t, anchor.Add(2*ms), conn1.StartTime().UTC())
	assert.Equal(t, anchor.Add(39*ms), conn1.EndTime().UTC())

	// One span per worker's first query, with the worker named.
	require.Len(t, byName["query.first"], 2)
	workers := []any{attr(byName["query.first"][0], "startline.worker"), attr(byName["query.first"][1], "startline.worker")}
	assert.ElementsMatch(t, []any{int64(0), int64(1)}, workers)
	assert.Equal(t, node.SpanContext().SpanID(), byName["query.first"][1].Parent().SpanID())
	assert.Equal(t, int64(-1), attr(byName["measure"][0], "startline.worker"))

	// Errors are statuses; instants are events.
	ts := byName["results.test_start"][0]
	assert.Equal(t, codes.Error, ts.Status().Code)
	assert.Equal(t, "sink down", ts.Status().Description)
	assert.Equal(t, codes.Error, node.Status().Code)
	assert.Equal(t, codes.Unset, poolInit.Status().Code)
	require.Len(t, node.Events(), 1)
	assert.Equal(t, "coord.start", node.Events()[0].Name)
	assert.Equal(t, anchor.Add(95*ms), node.Events()[0].Time.UTC())
}

func TestExportMergedTimelineOneSpanPerNode(t *testing.T) {
	a := timeline()
	b := timeline()
	b.Node = "b"
	b.Anchor = anchor.Add(time.Second)
	b.ClockOffset = 500 * ms // b's clock runs ahead: its marks move earlier

	spans := export(t, timing.Merge(a, b))
	var nodes []sdktrace.ReadOnlySpan
	var run sdktrace.ReadOnlySpan
	for _, s := range spans {
		switch s.Name() {
		case otelexport.NodeSpanName:
			nodes = append(nodes, s)
		case otelexport.RunSpanName:
			run = s
		}
	}
	require.Len(t, spans, 2*9+1)
	require.Len(t, nodes, 2)
	require.NotNil(t, run)
	starts := map[any]time.Time{}
	for _, n := range nodes {
		assert.Equal(t, run.SpanContext().SpanID(), n.Parent().SpanID())
		starts[attr(n, "startline.node")] = n.StartTime().UTC()
	}
	assert.Equal(t, anchor, starts["a"])
	assert.Equal(t, anchor.Add(500*ms), starts["b"])
	assert.Equal(t, anchor.Add(500*ms+1101*ms), run.EndTime().UTC())
}

func TestExportRefusesEmpty(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	err := otelexport.Export(t.Context(), tp, "x", timing.Timeline{})
	assert.ErrorIs(t, err, otelexport.ErrNoMarks)
	assert.Error(t, otelexport.Export(t.Context(), nil, "run-1", timeline()))
}
