package sinktest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// Harness tells Run how to make the sink under test and how to read back
// what it kept.
type Harness struct {
	// New returns a new sink that holds nothing yet, for one subtest: a
	// fresh table prefix, directory or buffer. Required.
	New func(t *testing.T) loadtest.Sink
	// Read returns what s holds of the run runID on node: one Record per
	// copy, in the order they were written, or none. Required.
	Read func(t *testing.T, s loadtest.Sink, runID, node string) []Record
	// Appends says that every Write adds a document of its own (a
	// stream), so that writing a run and node again holds one copy more,
	// equal to the first, instead of replacing it.
	Appends bool
	// RecordsTestStart says that TestStart keeps something that Read
	// returns before any Write: a Record with Finished false.
	RecordsTestStart bool
	// Concurrent says that the sink may be called from many goroutines
	// at once, as when Runners that run together share it. The suite
	// then writes from many goroutines at once.
	Concurrent bool
	// Tolerate, if set, says which errors of Write (and TestStart) the
	// sink returns by design while keeping what it was given, such as
	// sqlsink's *SpillError: the database could not be written, the
	// result was saved to a file. Any other error fails the suite.
	Tolerate func(err error) bool
}

// Record is what a sink holds of one result, as Harness.Read reads it
// back. The suite compares it with the result the sink was given. A
// field the sink does not keep is -1 (counts) or nil (maps, marks) and is
// not compared.
type Record struct {
	RunID, Node string
	// Finished is false for what TestStart kept before the result was
	// written, true once it was.
	Finished bool
	// Error and Stopped are the result's Error and Stopped.
	Error, Stopped string
	// Ops and Errors count the measured window's operations.
	Ops, Errors int64
	// Operations counts the measured operations per operation name; an
	// operation that measured none may be left out.
	Operations map[string]int64
	// Intervals is len(Result.Intervals).
	Intervals int
	// Latencies is the measured window's histogram count
	// (Phases.Measure.Histogram.Count()).
	Latencies int64
	// Marks are the timeline's marks, in order.
	Marks []timing.Mark
}

// RecordOf is the Record of res as a sink that keeps everything holds it,
// for Read functions that decode whole results.
func RecordOf(res *loadtest.Result) Record {
	r := Record{
		RunID: res.RunID, Node: res.Node, Finished: true,
		Error: res.Error, Stopped: res.Stopped,
		Ops: res.Phases.Measure.Ops, Errors: res.Phases.Measure.Errors,
		Operations: map[string]int64{},
		Intervals:  len(res.Intervals),
		Latencies:  0,
		Marks:      slices.Clone(res.Timeline.Marks),
	}
	for name, s := range res.Operations {
		r.Operations[name] = s.Ops
	}
	if h := res.Phases.Measure.Histogram; h != nil {
		r.Latencies = h.Count()
	}
	return r
}

// Run runs the conformance suite against the sink h makes, one subtest
// per property; see the package documentation.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Read == nil {
		t.Fatal("sinktest: Harness.New and Harness.Read are required")
	}
	s := suite{h: h}
	t.Run("Run", s.run)
	t.Run("BackgroundTestStart", s.background)
	t.Run("TestStartAlone", s.testStartAlone)
	t.Run("FailedSetup", s.failedSetup)
	t.Run("FailedAfterTestStart", s.failedAfterTestStart)
	t.Run("Cancelled", s.cancelled)
	t.Run("Rewrite", s.rewrite)
	t.Run("Nodes", s.nodes)
	t.Run("ManyOperationsAndIntervals", s.many)
	if h.Concurrent {
		t.Run("Concurrent", s.concurrent)
	}
}

type suite struct{ h Harness }

// fine reports whether err, returned by the sink, is no failure.
func (s suite) fine(err error) bool { return err == nil || s.h.Tolerate != nil && s.h.Tolerate(err) }

// plan describes one run of the suite.
type plan struct {
	runID, node string
	workers     int
	ops         int // operations, one of which fails now and then
	interval    time.Duration
	duration    time.Duration
	background  bool
	pool        *memPool
	cancelAfter time.Duration // cancel the run's context this long into the measured window
}

func (s suite) defaults(t *testing.T) plan {
	return plan{
		runID: runID(t), node: "node-a",
		workers: 4, ops: 3, interval: 20 * time.Millisecond, duration: 100 * time.Millisecond,
		pool: &memPool{},
	}
}

// runID names the run of subtest t: its own name, as a valid run id.
func runID(t *testing.T) string {
	name := t.Name()
	name = name[strings.LastIndexByte(name, '/')+1:]
	id := "sinktest-" + strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '-'
	}, name)
	return id[:min(len(id), 64)]
}

// execute runs p with sink (wrapped to watch the calls it gets) and
// returns the result the sink was given, and what the watch saw.
func (s suite) execute(t *testing.T, sink loadtest.Sink, p plan) (*loadtest.Result, *watched) {
	t.Helper()
	w := &watched{Sink: sink}
	query := func(ctx context.Context, wk *loadtest.Worker) error {
		_, err := wk.Session().Query(ctx, "SELECT 1")
		return err
	}
	ops := make([]loadtest.Operation, p.ops)
	for i := range ops {
		ops[i] = loadtest.Operation{Name: "op" + strconv.Itoa(i), Weight: i + 1, Run: query}
	}
	// The last operation loses its connection every fifth time, counted
	// per worker, so that each goroutine touches its own counter only.
	counts := make([]int, p.workers)
	ops[p.ops-1].Run = func(ctx context.Context, wk *loadtest.Worker) error {
		if counts[wk.ID()]++; counts[wk.ID()]%5 == 0 {
			return errLost
		}
		return query(ctx, wk)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hooks loadtest.Hooks
	if p.cancelAfter > 0 {
		hooks.PhaseStart = func(i loadtest.PhaseStartInfo) {
			if i.Phase == timing.Measure {
				time.AfterFunc(p.cancelAfter, cancel)
			}
		}
	}
	r, err := loadtest.New(loadtest.Config{
		RunID: p.runID, Node: p.node, Pool: p.pool, Workers: p.workers,
		Warmup: 2 * p.interval, Duration: p.duration, Interval: p.interval, Seed: 1,
		Workload:            loadtest.Workload{Operations: ops},
		Sinks:               []loadtest.Sink{w},
		BackgroundTestStart: p.background,
		Hooks:               hooks,
	})
	if err != nil {
		t.Fatalf("sinktest: the suite's own Config: %v", err)
	}
	res, _ := r.Run(ctx) // errors are expected in some plans: the sink's own come back in w
	if w.writes != 1 {
		t.Fatalf("the Runner wrote %d results to the sink, want 1", w.writes)
	}
	if w.written != res {
		t.Fatal("the sink was given another result than Run returned")
	}
	return res, w
}

// watched is a sink that passes every call on and notes what it sees.
type watched struct {
	loadtest.Sink

	mu              sync.Mutex
	starts, writes  int
	inStart         bool
	overlapped      bool  // a Write began while TestStart ran
	writeCtxErr     error // ctx.Err() as Write began
	startErr, wrErr error
	written         *loadtest.Result
}

func (w *watched) TestStart(ctx context.Context, info loadtest.RunInfo) error {
	w.mu.Lock()
	w.starts++
	w.inStart = true
	w.mu.Unlock()
	err := w.Sink.TestStart(ctx, info)
	w.mu.Lock()
	w.inStart, w.startErr = false, err
	w.mu.Unlock()
	return err
}

func (w *watched) Write(ctx context.Context, res *loadtest.Result) error {
	w.mu.Lock()
	w.writes++
	w.overlapped = w.overlapped || w.inStart
	w.writeCtxErr = ctx.Err()
	w.written = res
	w.mu.Unlock()
	err := w.Sink.Write(ctx, res)
	w.mu.Lock()
	w.wrErr = err
	w.mu.Unlock()
	return err
}

// readOne reads back runID on node and requires exactly want copies.
func (s suite) readOne(t *testing.T, sink loadtest.Sink, runID, node string, want int) []Record {
	t.Helper()
	recs := s.h.Read(t, sink, runID, node)
	if len(recs) != want {
		t.Fatalf("Read(%q, %q) returned %d records, want %d", runID, node, len(recs), want)
	}
	return recs
}

// expectKept checks that got holds what a sink keeps of res.
func expectKept(t *testing.T, got Record, res *loadtest.Result) {
	t.Helper()
	want := RecordOf(res)
	check := func(field string, g, w any) {
		t.Helper()
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%s: read back %v, want %v", field, g, w)
		}
	}
	check("RunID", got.RunID, want.RunID)
	check("Node", got.Node, want.Node)
	check("Finished", got.Finished, true)
	check("Error", got.Error, want.Error)
	check("Stopped", got.Stopped, want.Stopped)
	check("Ops", got.Ops, want.Ops)
	check("Errors", got.Errors, want.Errors)
	if got.Operations != nil {
		// An operation that measured nothing may be left out.
		names := slices.Sorted(maps.Keys(want.Operations))
		for name := range got.Operations {
			if _, ok := want.Operations[name]; !ok {
				names = append(names, name)
			}
		}
		for _, name := range names {
			check("Operations["+name+"]", got.Operations[name], want.Operations[name])
		}
	}
	if got.Intervals >= 0 {
		check("Intervals", got.Intervals, want.Intervals)
	}
	if got.Latencies >= 0 {
		check("Latencies", got.Latencies, want.Latencies)
	}
	if got.Marks != nil || len(want.Marks) == 0 {
		if len(got.Marks) != len(want.Marks) {
			t.Errorf("Marks: read back %d, want %d", len(got.Marks), len(want.Marks))
			return
		}
		for i := range want.Marks {
			if got.Marks[i] != want.Marks[i] {
				t.Errorf("Marks[%d]: read back %+v, want %+v", i, got.Marks[i], want.Marks[i])
			}
		}
	}
}

// run: a run that goes well is kept whole, and its test start came first.
func (s suite) run(t *testing.T) {
	sink := s.h.New(t)
	res, w := s.execute(t, sink, s.defaults(t))
	if res.Error != "" || !s.fine(w.wrErr) || !s.fine(w.startErr) {
		t.Fatalf("run error %q, TestStart error %v, Write error %v", res.Error, w.startErr, w.wrErr)
	}
	if w.starts != 1 {
		t.Errorf("TestStart called %d times, want 1", w.starts)
	}
	if res.Phases.Measure.Ops == 0 || res.Phases.Measure.Errors == 0 || len(res.Intervals) < 2 {
		t.Fatalf("the suite's run measured too little to check: %d ops, %d errors, %d intervals",
			res.Phases.Measure.Ops, res.Phases.Measure.Errors, len(res.Intervals))
	}
	expectKept(t, s.readOne(t, sink, res.RunID, res.Node, 1)[0], res)
}

// background: with BackgroundTestStart, TestStart may overlap the run but
// never Write, and the result is kept whole.
func (s suite) background(t *testing.T) {
	sink := s.h.New(t)
	p := s.defaults(t)
	p.background = true
	res, w := s.execute(t, sink, p)
	if w.overlapped {
		t.Error("Write began while TestStart was still running")
	}
	if w.starts != 1 || !s.fine(w.startErr) || !s.fine(w.wrErr) {
		t.Fatalf("TestStart called %d times (error %v), Write error %v", w.starts, w.startErr, w.wrErr)
	}
	expectKept(t, s.readOne(t, sink, res.RunID, res.Node, 1)[0], res)
}

// testStartAlone: what TestStart keeps before any Write, for a sink that
// keeps something; a run that was only started is not finished.
func (s suite) testStartAlone(t *testing.T) {
	sink := s.h.New(t)
	info := loadtest.RunInfo{RunID: "sinktest-started", Node: "node-a", StartedAt: time.Now(),
		Config: loadtest.RunConfig{Workers: 2, Conns: 2, Duration: time.Second, Arrival: "closed"}}
	if err := sink.TestStart(context.Background(), info); !s.fine(err) {
		t.Fatalf("TestStart: %v", err)
	}
	want := 0
	if s.h.RecordsTestStart {
		want = 1
	}
	recs := s.readOne(t, sink, info.RunID, info.Node, want)
	if want == 1 {
		if recs[0].Finished {
			t.Error("a run that was only started reads back as finished")
		}
		if recs[0].RunID != info.RunID || recs[0].Node != info.Node {
			t.Errorf("read back run %q node %q, want %q %q", recs[0].RunID, recs[0].Node, info.RunID, info.Node)
		}
	}
	// A second TestStart of the same run and node replaces the first.
	if err := sink.TestStart(context.Background(), info); !s.fine(err) {
		t.Fatalf("TestStart again: %v", err)
	}
	s.readOne(t, sink, info.RunID, info.Node, want)
}

// failedSetup: a run that failed before its test start (pool.init) is
// written all the same, with its error and its timeline.
func (s suite) failedSetup(t *testing.T) {
	sink := s.h.New(t)
	p := s.defaults(t)
	p.pool = &memPool{warmErr: errors.New("sinktest: warm-up refused")} // not retried
	res, w := s.execute(t, sink, p)
	if res.Error == "" || w.starts != 0 {
		t.Fatalf("the suite's failed run has error %q and %d test starts", res.Error, w.starts)
	}
	if !s.fine(w.wrErr) {
		t.Fatalf("Write of a failed run: %v", w.wrErr)
	}
	expectKept(t, s.readOne(t, sink, res.RunID, res.Node, 1)[0], res)
}

// failedAfterTestStart: a run that failed after its test start (its
// sessions would not close) replaces what TestStart kept.
func (s suite) failedAfterTestStart(t *testing.T) {
	sink := s.h.New(t)
	p := s.defaults(t)
	p.pool = &memPool{closeErr: fmt.Errorf("sinktest: close refused: %w", errLost)}
	res, w := s.execute(t, sink, p)
	if res.Error == "" || w.starts != 1 {
		t.Fatalf("the suite's failed run has error %q and %d test starts", res.Error, w.starts)
	}
	if !s.fine(w.wrErr) {
		t.Fatalf("Write of a failed run: %v", w.wrErr)
	}
	expectKept(t, s.readOne(t, sink, res.RunID, res.Node, 1)[0], res)
}

// cancelled: a run whose context is cancelled in its measured window is
// written with a context that is not cancelled, and kept whole.
func (s suite) cancelled(t *testing.T) {
	sink := s.h.New(t)
	p := s.defaults(t)
	p.duration = time.Hour
	p.cancelAfter = 3 * p.interval
	res, w := s.execute(t, sink, p)
	if w.writeCtxErr != nil {
		t.Errorf("Write's context was already done: %v", w.writeCtxErr)
	}
	if !strings.Contains(res.Stopped, "context") {
		t.Fatalf("the suite's cancelled run stopped with %q", res.Stopped)
	}
	if !s.fine(w.wrErr) {
		t.Fatalf("Write of a cancelled run: %v", w.wrErr)
	}
	expectKept(t, s.readOne(t, sink, res.RunID, res.Node, 1)[0], res)
}

// rewrite: writing the same run and node again replaces it (a store) or
// adds an equal copy (a stream); either way nothing is lost or doubled.
func (s suite) rewrite(t *testing.T) {
	sink := s.h.New(t)
	res, _ := s.execute(t, sink, s.defaults(t))
	for range 2 {
		if err := sink.Write(context.Background(), res); !s.fine(err) {
			t.Fatalf("Write again: %v", err)
		}
	}
	want := 1
	if s.h.Appends {
		want = 3
	}
	for _, rec := range s.readOne(t, sink, res.RunID, res.Node, want) {
		expectKept(t, rec, res)
	}
}

// nodes: two nodes of one run are kept apart, and two runs too.
func (s suite) nodes(t *testing.T) {
	sink := s.h.New(t)
	p := s.defaults(t)
	a, _ := s.execute(t, sink, p)
	p.node = "node-b"
	p.workers = 2
	b, _ := s.execute(t, sink, p)
	p.runID += "-2"
	c, _ := s.execute(t, sink, p)
	for _, res := range []*loadtest.Result{a, b, c} {
		expectKept(t, s.readOne(t, sink, res.RunID, res.Node, 1)[0], res)
	}
	s.readOne(t, sink, a.RunID, "node-c", 0)
}

// many: a result with many operations, intervals and marks is kept whole.
func (s suite) many(t *testing.T) {
	sink := s.h.New(t)
	p := s.defaults(t)
	p.workers, p.ops, p.interval, p.duration = 48, 12, 5*time.Millisecond, 300*time.Millisecond
	res, w := s.execute(t, sink, p)
	if !s.fine(w.wrErr) {
		t.Fatalf("Write: %v", w.wrErr)
	}
	if len(res.Intervals) < 40 || len(res.Timeline.Marks) < 100 {
		t.Fatalf("the suite's big run made only %d intervals and %d marks", len(res.Intervals), len(res.Timeline.Marks))
	}
	expectKept(t, s.readOne(t, sink, res.RunID, res.Node, 1)[0], res)
}

// concurrent: Writes of many nodes from many goroutines at once are all
// kept, each whole.
func (s suite) concurrent(t *testing.T) {
	sink := s.h.New(t)
	p := s.defaults(t)
	base, _ := s.execute(t, sink, p)
	const n = 8
	results := make([]*loadtest.Result, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		res := *base
		res.Node = "node-c" + strconv.Itoa(i)
		results[i] = &res
		wg.Go(func() {
			if err := sink.TestStart(context.Background(), loadtest.RunInfo{RunID: res.RunID, Node: res.Node,
				StartedAt: res.StartedAt, Config: res.Config}); !s.fine(err) {
				errs[i] = err
				return
			}
			errs[i] = sink.Write(context.Background(), &res)
		})
	}
	wg.Wait()
	for i, res := range results {
		if !s.fine(errs[i]) {
			t.Errorf("node %s: %v", res.Node, errs[i])
			continue
		}
		expectKept(t, s.readOne(t, sink, res.RunID, res.Node, 1)[0], res)
	}
}
