package sinktest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sinktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// storeSink keeps results in memory, by run and node, as a database
// would; its flaws are switched on one at a time to check that the suite
// finds each.
type storeSink struct {
	flaw string

	mu      sync.Mutex
	started map[[2]string]bool
	results map[[2]string][]*loadtest.Result
}

func newStore(flaw string) *storeSink {
	return &storeSink{flaw: flaw, started: map[[2]string]bool{}, results: map[[2]string][]*loadtest.Result{}}
}

func (s *storeSink) TestStart(_ context.Context, info loadtest.RunInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started[[2]string{info.RunID, info.Node}] = true
	return nil
}

func (s *storeSink) Write(ctx context.Context, res *loadtest.Result) error {
	switch {
	case s.flaw == "drops failed runs" && res.Error != "":
		return nil
	case s.flaw == "gives up on a done context" && ctx.Err() != nil:
		return ctx.Err()
	}
	key := [2]string{res.RunID, res.Node}
	if s.flaw == "mixes nodes" {
		key[1] = "node-a"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flaw == "doubles a rewrite" {
		s.results[key] = append(s.results[key], res)
	} else {
		s.results[key] = []*loadtest.Result{res}
	}
	return nil
}

func (s *storeSink) read(t *testing.T, _ loadtest.Sink, runID, node string) []sinktest.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]string{runID, node}
	var out []sinktest.Record
	for _, res := range s.results[key] {
		rec := sinktest.RecordOf(res)
		if s.flaw == "loses the last mark" && len(rec.Marks) > 0 {
			rec.Marks = rec.Marks[:len(rec.Marks)-1]
		}
		out = append(out, rec)
	}
	if len(out) == 0 && s.started[key] {
		out = append(out, sinktest.Record{RunID: runID, Node: node, Intervals: -1, Latencies: -1})
	}
	return out
}

func harness(flaw string) sinktest.Harness {
	stores := map[loadtest.Sink]*storeSink{}
	var mu sync.Mutex
	return sinktest.Harness{
		New: func(t *testing.T) loadtest.Sink {
			s := newStore(flaw)
			mu.Lock()
			stores[s] = s
			mu.Unlock()
			return s
		},
		Read: func(t *testing.T, sink loadtest.Sink, runID, node string) []sinktest.Record {
			mu.Lock()
			s := stores[sink]
			mu.Unlock()
			return s.read(t, sink, runID, node)
		},
		RecordsTestStart: true,
		Concurrent:       true,
	}
}

// A sink that keeps its contract passes.
func TestStoreSink(t *testing.T) { sinktest.Run(t, harness("")) }

// flawEnv selects the flaw of TestFlawedSink, which runs only in the
// process that TestSuiteFindsFlaws starts.
const flawEnv = "SINKTEST_FLAW"

func TestFlawedSink(t *testing.T) {
	flaw := os.Getenv(flawEnv)
	if flaw == "" {
		t.Skip("run by TestSuiteFindsFlaws, with " + flawEnv + " set")
	}
	sinktest.Run(t, harness(flaw))
}

// The suite fails a sink for each way of breaking the contract, in the
// subtest that checks it: each flawed sink runs the suite in a process of
// its own, which must fail there.
func TestSuiteFindsFlaws(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite once per flaw")
	}
	for flaw, subtest := range map[string]string{
		"drops failed runs":          "FailedSetup",
		"doubles a rewrite":          "Rewrite",
		"mixes nodes":                "Nodes",
		"loses the last mark":        "Run",
		"gives up on a done context": "", // the Runner never hands it one: the suite passes
	} {
		t.Run(flaw, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFlawedSink$", "-test.v")
			cmd.Env = append(os.Environ(), flawEnv+"="+flaw)
			out, err := cmd.CombinedOutput()
			if subtest == "" {
				if err != nil {
					t.Fatalf("a sink whose flaw the Runner never meets failed the suite: %v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("the suite passed a sink that %s\n%s", flaw, out)
			}
			if want := "--- FAIL: TestFlawedSink/" + subtest + " "; !strings.Contains(string(out), want) {
				t.Errorf("want %q in the output:\n%s", want, out)
			}
		})
	}
}
