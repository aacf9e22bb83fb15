// Package sinktest is the conformance suite of a [loadtest.Sink], as
// testing/slogtest is for slog handlers: a sink's own tests call [Run]
// with a way to make the sink and a way to read back what it kept, and the
// suite drives the sink as a Runner does and checks that it kept every
// result, whole, under the contract that loadtest.Sink documents.
//
// The suite uses only the testing package, plus what it must import to
// make its results (loadtest, with pool for its in-memory pool and timing
// for the marks it compares): it runs real Runners over that pool, so that the
// results it writes are what sinks meet in use (two windows, many
// operations and intervals, a timeline of a few hundred marks, latency
// histograms, errors by kind), and so that it watches the calls a Runner
// makes: Write of a failed run and of a cancelled one (with a context that
// is not cancelled), TestStart in the background, overlapping the run but
// never Write. It also calls the sink directly: TestStart alone, a
// rewrite of the same run and node, two nodes of one run, and, for a sink
// that says it may be shared, Writes from many goroutines at once.
//
// # Reading back
//
// [Harness.Read] returns what the sink holds of one run on one node as
// [Record] values: one per copy it holds. A sink that stores results (a
// database, say) reads them from its store, and holds one copy however
// often the same run and node is written; a sink that writes a document
// per result to a stream (loadtest.TextSink, loadtest.JSONSink) reads the
// bytes written, holds one copy per Write, and says so with
// [Harness.Appends]. A Record leaves out, with -1 or nil, what a sink does
// not keep (a text report keeps no marks); the suite checks the rest.
//
// # Adding a sink
//
// A new sink is one package and five files:
//
//   - yoursink.go: the type, with TestStart and Write as loadtest.Sink
//     documents them (read the contract there: what a Write of a failed
//     or cancelled run gets, what may overlap, what a rewrite must do);
//   - doc.go: the package documentation, saying what the sink keeps and
//     whether it may be shared by Runners that run at once;
//   - yoursink_test.go: a test that calls sinktest.Run with a Harness
//     whose New makes a fresh sink (a fresh table prefix, directory or
//     buffer) and whose Read reads back what that sink kept, for every
//     backend the sink supports;
//   - example_test.go: a runnable example of the sink in a Config;
//   - main_test.go: TestMain with goleak.VerifyTestMain, as every package
//     of the module has.
//
// Nothing else in the module changes: a Config takes any loadtest.Sink.
// This package's own tests run the suite against a sink with each of a
// few flaws, to show that the suite fails it in the subtest that checks
// that part of the contract.
package sinktest
