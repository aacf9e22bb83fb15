// Package otelexport sends a run's timeline to a tracing backend as
// OpenTelemetry spans, through the OpenTelemetry Go SDK, so that the startup
// of a load test can be read beside the traces a team already collects.
//
// The span tree mirrors the run: one span for the run, a child span per node
// (process), and under each node a span per mark: each phase of each worker,
// with the marks' own start and end times (the timeline's anchor plus their
// offsets), so that the spans show when things happened, not when they were
// exported. A pool.conn mark is a child of its node's pool.init span. Instant
// marks, such as the coord.start signal, are events on their node's span. A
// mark that ended in an error gives its span an error status.
//
// The package lives apart from timing and loadtest so that importing them
// does not pull the OpenTelemetry SDK. It imports timing only: it exports
// a timing.Timeline, with the run's id and attributes as plain arguments,
// so that it serves any timeline, not only a load test's result.
package otelexport
