package otelexport_test

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/startline/startline/timing"
	"github.com/startline/startline/timing/otelexport"
)

// Export a run's timeline through a TracerProvider; here an in-memory
// exporter stands in for the tracing backend (OTLP, Jaeger, ...).
func ExampleExport() {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	anchor := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	// A run's timeline, as a load test's Result.Timeline holds it.
	tl := timing.Timeline{
		Node: "host-1", Anchor: anchor, Marks: []timing.Mark{
			{Phase: timing.PoolInit, Worker: timing.Process, Start: 0, End: 30 * time.Millisecond},
			{Phase: timing.CoordWait, Worker: timing.Process, Start: 30 * time.Millisecond, End: 90 * time.Millisecond},
			{Phase: timing.CoordStart, Worker: timing.Process, Start: 88 * time.Millisecond, End: 88 * time.Millisecond},
			{Phase: timing.QueryFirst, Worker: 0, Start: 91 * time.Millisecond, End: 93 * time.Millisecond},
		},
	}
	if err := otelexport.Export(context.Background(), tp, "run-1", tl, attribute.String("build", "abc123")); err != nil {
		panic(err)
	}
	for _, s := range exp.GetSpans() { // in the order they ended
		fmt.Println(s.Name, s.EndTime.Sub(s.StartTime), len(s.Events), "events")
	}
	// Output:
	// pool.init 30ms 0 events
	// coord.wait 60ms 0 events
	// query.first 2ms 0 events
	// startline.node 93ms 1 events
	// startline.run 93ms 0 events
}
