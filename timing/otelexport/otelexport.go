package otelexport

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/startline/startline/timing"
)

// TracerName is the instrumentation scope name of the spans Export creates.
const TracerName = "github.com/startline/startline/timing/otelexport"

// Span names and attribute keys. A phase span is named after its phase
// ("pool.init", "query.first", ...).
const (
	RunSpanName  = "startline.run"
	NodeSpanName = "startline.node"

	AttrRunID  = attribute.Key("startline.run_id")
	AttrNode   = attribute.Key("startline.node")
	AttrPhase  = attribute.Key("startline.phase")
	AttrWorker = attribute.Key("startline.worker") // -1 for the process
	AttrDetail = attribute.Key("startline.detail")
)

// ErrNoMarks is returned for a timeline that holds no marks: there is
// nothing to place spans by.
var ErrNoMarks = errors.New("otelexport: timeline has no marks")

// Export records tl, the timeline of the run named runID, as spans through
// tp: see the package documentation for the tree. attrs are added to the
// run span, for what identifies the run beyond its id (a build, a
// dataset). The run span is a child of the span in ctx, if any. A merged
// timeline (see timing.Merge), whose marks name their nodes, gives one
// node span per node. For a load test's result, pass its RunID and
// Timeline.
//
// Export returns once every span has ended; sending them is the
// TracerProvider's business (flush it with its ForceFlush or Shutdown).
func Export(ctx context.Context, tp trace.TracerProvider, runID string, tl timing.Timeline, attrs ...attribute.KeyValue) error {
	if tp == nil {
		return errors.New("otelexport: nil TracerProvider")
	}
	if len(tl.Marks) == 0 {
		return ErrNoMarks
	}
	// On the reference clock, as timing.Merge places timelines.
	anchor := tl.Anchor.Add(-tl.ClockOffset)
	at := func(off time.Duration) time.Time { return anchor.Add(off) }

	// Group the marks by node, in order of the nodes' first marks.
	type node struct {
		name       string
		start, end time.Duration
		marks      []timing.Mark
	}
	var nodes []*node
	byName := map[string]*node{}
	for _, m := range tl.Marks {
		name := cmp.Or(m.Node, tl.Node)
		n := byName[name]
		if n == nil {
			n = &node{name: name, start: m.Start, end: m.End}
			byName[name] = n
			nodes = append(nodes, n)
		}
		n.start, n.end = min(n.start, m.Start), max(n.end, m.End)
		n.marks = append(n.marks, m)
	}
	runStart, runEnd := nodes[0].start, nodes[0].end
	for _, n := range nodes {
		runStart, runEnd = min(runStart, n.start), max(runEnd, n.end)
	}

	tr := tp.Tracer(TracerName)
	ctx, run := tr.Start(ctx, RunSpanName, trace.WithTimestamp(at(runStart)),
		trace.WithAttributes(append([]attribute.KeyValue{AttrRunID.String(runID)}, attrs...)...))
	for _, n := range nodes {
		nctx, ns := tr.Start(ctx, NodeSpanName, trace.WithTimestamp(at(n.start)),
			trace.WithAttributes(AttrRunID.String(runID), AttrNode.String(n.name)))
		// pool.init first, so that its pool.conn marks can be its children.
		notPoolInit := func(m timing.Mark) int {
			if m.Phase == timing.PoolInit {
				return 0
			}
			return 1
		}
		slices.SortStableFunc(n.marks, func(a, b timing.Mark) int { return notPoolInit(a) - notPoolInit(b) })
		var poolInit context.Context
		var poolStart, poolEnd time.Duration
		failed := 0
		for _, m := range n.marks {
			attrs := []attribute.KeyValue{AttrPhase.String(string(m.Phase)), AttrWorker.Int(m.Worker)}
			if m.Detail != "" {
				attrs = append(attrs, AttrDetail.String(m.Detail))
			}
			if m.Start == m.End {
				if m.Err != "" {
					attrs = append(attrs, attribute.String("error", m.Err))
				}
				ns.AddEvent(string(m.Phase), trace.WithTimestamp(at(m.Start)), trace.WithAttributes(attrs...))
				continue
			}
			parent := nctx
			if m.Phase == timing.PoolConn && poolInit != nil && poolStart <= m.Start && m.End <= poolEnd {
				parent = poolInit
			}
			sctx, s := tr.Start(parent, string(m.Phase), trace.WithTimestamp(at(m.Start)), trace.WithAttributes(attrs...))
			if m.Phase == timing.PoolInit && m.Worker == timing.Process && poolInit == nil {
				poolInit, poolStart, poolEnd = sctx, m.Start, m.End
			}
			if m.Err != "" {
				failed++
				s.SetStatus(codes.Error, m.Err)
			}
			s.End(trace.WithTimestamp(at(m.End)))
		}
		if failed > 0 {
			ns.SetStatus(codes.Error, strconv.Itoa(failed)+" phase(s) failed")
		}
		ns.End(trace.WithTimestamp(at(n.end)))
	}
	run.End(trace.WithTimestamp(at(runEnd)))
	return nil
}
