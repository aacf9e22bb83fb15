package sinktest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/startline/startline/loadtest"
)

// StreamHarness tells RunStream how to make the stream store under test.
type StreamHarness struct {
	// New returns a store and a source over the same storage, empty of
	// the run ids the suite uses (each subtest's own, from its name).
	New func(t *testing.T) (loadtest.StreamStore, loadtest.StreamSource)
}

// RunStream runs the conformance suite of a loadtest.StreamStore and
// StreamSource pair: records come back as stored, by run and from a seq
// on; storing a record again is harmless; many nodes store at once; and a
// Runner's stream holds every interval of its result, whose operations add
// up to the result's.
func RunStream(t *testing.T, h StreamHarness) {
	t.Run("RoundTrip", func(t *testing.T) { streamRoundTrip(t, h) })
	t.Run("Concurrent", func(t *testing.T) { streamConcurrent(t, h) })
	t.Run("Runner", func(t *testing.T) { streamRunner(t, h) })
}

func records(t *testing.T, src loadtest.StreamSource, runID string, from int64) []string {
	t.Helper()
	got, err := src.Records(context.Background(), runID, from)
	if err != nil {
		t.Fatalf("Records(%q, %d): %v", runID, from, err)
	}
	var out []string
	for _, b := range got {
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

func streamRoundTrip(t *testing.T, h StreamHarness) {
	ctx := context.Background()
	st, src := h.New(t)
	run := runID(t)
	for seq := range int64(3) {
		for _, node := range []string{"node-a", "node-b"} {
			if err := st.PutRecord(ctx, run, node, seq, []byte(fmt.Sprintf(`{"node":%q,"seq":%d}`, node, seq))); err != nil {
				t.Fatalf("PutRecord(%s, %d): %v", node, seq, err)
			}
		}
	}
	if err := st.PutRecord(ctx, run+"-other", "node-a", 5, []byte(`{"other":true}`)); err != nil {
		t.Fatalf("PutRecord of another run: %v", err)
	}
	// Again: a retry of a store whose answer was lost.
	if err := st.PutRecord(ctx, run, "node-a", 1, []byte(`{"node":"node-a","seq":1}`)); err != nil {
		t.Fatalf("PutRecord again: %v", err)
	}
	all := records(t, src, run, 0)
	if len(all) < 6 {
		t.Fatalf("Records from 0: %d records, want 6 (every node and seq): %q", len(all), all)
	}
	want := []string{`{"node":"node-a","seq":2}`, `{"node":"node-b","seq":2}`}
	if got := slices.Compact(records(t, src, run, 2)); !slices.Equal(got, want) {
		t.Errorf("Records from 2 = %q, want %q", got, want)
	}
	if got := records(t, src, run, 3); len(got) != 0 {
		t.Errorf("Records from 3 = %q, want none", got)
	}
	if got := records(t, src, "sinktest-no-such-run", 0); len(got) != 0 {
		t.Errorf("Records of a run without records = %q, want none", got)
	}
}

func streamConcurrent(t *testing.T, h StreamHarness) {
	st, src := h.New(t)
	run := runID(t)
	const nodes, seqs = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for n := range nodes {
		wg.Go(func() {
			node := "node-" + strconv.Itoa(n)
			for seq := range int64(seqs) {
				if err := st.PutRecord(context.Background(), run, node, seq, []byte(node+"/"+strconv.FormatInt(seq, 10))); err != nil {
					errs <- fmt.Errorf("%s seq %d: %w", node, seq, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := slices.Compact(records(t, src, run, 0)); len(got) != nodes*seqs {
		t.Errorf("%d distinct records, want %d", len(got), nodes*seqs)
	}
}

func streamRunner(t *testing.T, h StreamHarness) {
	st, src := h.New(t)
	s := suite{}
	p := s.defaults(t)
	r, err := loadtest.New(loadtest.Config{
		RunID: p.runID, Node: p.node, Pool: p.pool, Workers: p.workers,
		Warmup: 2 * p.interval, Duration: p.duration, Interval: p.interval, Seed: 1,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{{Name: "op", Weight: 1, Run: func(ctx context.Context, wk *loadtest.Worker) error {
			_, err := wk.Session().Query(ctx, "SELECT 1")
			return err
		}}}},
		Stream: st,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Stream == nil || res.Stream.Records != int64(len(res.Intervals)) || res.Stream.Sent != res.Stream.Records {
		t.Fatalf("Result.Stream = %+v, want every one of %d intervals sent", res.Stream, len(res.Intervals))
	}
	raw, err := src.Records(context.Background(), p.runID, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	var measured int64
	for _, b := range raw {
		rec, err := loadtest.DecodeStreamRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Node != p.node || rec.RunID != p.runID || seen[rec.Seq] {
			continue
		}
		seen[rec.Seq] = true
		iv := res.Intervals[rec.Seq]
		if rec.Interval.Start != iv.Start || rec.Interval.Ops != iv.Ops || rec.Interval.Phase != iv.Phase {
			t.Errorf("record %d is interval %+v, the result's is %+v", rec.Seq, rec.Interval, iv)
		}
		if iv.Phase == "measure" {
			measured += rec.Operations["op"].Ops
		}
		if !rec.StartedAt.Equal(res.StartedAt) || rec.Start().Before(res.StartedAt.Add(-time.Second)) {
			t.Errorf("record %d: started_at %v, the result's %v", rec.Seq, rec.StartedAt, res.StartedAt)
		}
	}
	if len(seen) != len(res.Intervals) {
		t.Errorf("the store holds %d of the %d intervals", len(seen), len(res.Intervals))
	}
	if measured != res.Phases.Measure.Ops || measured == 0 {
		t.Errorf("the streamed measure intervals hold %d operations, the result %d", measured, res.Phases.Measure.Ops)
	}
}
