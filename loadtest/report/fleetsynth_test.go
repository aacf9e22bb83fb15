package report_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// realRun is testdata/distributed8.json: the merged result of a real run,
//
//	go run ./examples/distributed -workers 8 -json testdata/distributed8.json -quiet
//
// 8 node processes of 2 workers each on SQLite, coordinated through the
// sql coordinator, with the orchestrator's timeline.
const realRun = "testdata/distributed8.json"

func readReal(tb testing.TB) *loadtest.Result {
	tb.Helper()
	res, err := loadtest.ReadResultFile(realRun)
	if err != nil {
		tb.Fatal(err)
	}
	if len(res.Workers) != 8 {
		tb.Fatalf("%s: %d workers, want 8", realRun, len(res.Workers))
	}
	return res
}

// fleet makes the merged result of n nodes from the real run's: node i
// replays the timeline of the real run's node i%8 under its own name
// (names of different shapes and lengths), with its own clock (a true
// offset of up to ±5ms, measured within its own bound of 0.2-2ms, the
// measurement's error within it), its startup begun up to 30ms later and
// run 0.6-2.5 times as slow, and its phases after T later by a jitter of
// about 1.5ms (a few stragglers by 20-60ms). The orchestrator's timeline
// is the real one, with a coord.seen per node. They are merged as
// examples/distributed merges, by loadtest.MergeWith, and the real run's
// statistics are kept.
func fleet(tb testing.TB, n int) *loadtest.Result {
	tb.Helper()
	real := readReal(tb)
	r := rand.New(rand.NewPCG(uint64(n), 17))
	own := map[string]bool{}
	for _, w := range real.Workers {
		own[w.Node] = true
	}
	orch := timing.Timeline{Node: "orchestrator", Anchor: real.Timeline.Anchor}
	seen := map[string]time.Duration{}
	for _, m := range real.Timeline.Marks {
		switch {
		case m.Phase == timing.CoordSeen && own[m.Node]:
			seen[m.Node] = m.Start
		case !own[m.Node]:
			m.Node = ""
			orch.Marks = append(orch.Marks, m)
		}
	}
	uniform := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(r.Float64()*float64(hi-lo)) }
	results := make([]*loadtest.Result, n)
	for i := range n {
		base := real.Workers[i%len(real.Workers)]
		var name string
		switch i % 3 {
		case 0:
			name = fmt.Sprintf("w%04d", i)
		case 1:
			name = fmt.Sprintf("ip-10-%d-%d-%d.eu-west-1.compute.internal", i/250, i%250, r.IntN(250))
		default:
			name = fmt.Sprintf("loadgen-%c-%d", 'a'+rune(i%26), i)
		}
		// The clock: the node's runs ahead by trueOff; it measured
		// trueOff plus an error within its bound.
		bound := uniform(200*time.Microsecond, 2*time.Millisecond)
		trueOff := uniform(-5*time.Millisecond, 5*time.Millisecond)
		measured := trueOff + uniform(-bound, bound)
		anchor := base.StartedAt.Add(-base.ClockOffset + trueOff)

		var waitStart, waitEnd time.Duration
		t0 := base.Marks[0].Start
		for _, m := range base.Marks {
			t0 = min(t0, m.Start)
			if m.Phase == timing.CoordWait {
				waitStart, waitEnd = m.Start, m.End
			}
		}
		late := uniform(0, 30*time.Millisecond)
		slow := 0.6 + r.Float64()*1.9
		if r.IntN(50) == 0 {
			slow = 8 // a node with a slow connection
		}
		stretch := func(d time.Duration) time.Duration {
			v := t0 + late + time.Duration(float64(d-t0)*slow)
			return min(v, waitEnd-time.Millisecond)
		}
		after := time.Duration(r.ExpFloat64() * float64(1500*time.Microsecond))
		if r.IntN(40) == 0 {
			after += uniform(20*time.Millisecond, 60*time.Millisecond)
		}
		marks := slices.Clone(base.Marks)
		for j, m := range marks {
			switch {
			case m.Phase == timing.CoordStart:
			case m.Phase == timing.CoordWait:
				marks[j].Start = stretch(m.Start)
			case m.End <= waitStart:
				marks[j].Start, marks[j].End = stretch(m.Start), stretch(m.End)
			case m.Start >= waitEnd:
				marks[j].Start, marks[j].End = m.Start+after, m.End+after
			}
		}
		results[i] = &loadtest.Result{
			RunID: real.RunID, Node: name, StartedAt: anchor,
			Timeline: timing.Timeline{Node: name, Anchor: anchor, ClockOffset: measured, ClockError: bound, Marks: marks},
			Config:   loadtest.RunConfig{Workers: 2, Conns: 2, Warmup: real.Config.Warmup, Duration: real.Config.Duration},
		}
		if at, ok := seen[base.Node]; ok {
			at += uniform(-2*time.Millisecond, 2*time.Millisecond)
			orch.Marks = append(orch.Marks, timing.Mark{Phase: timing.CoordSeen, Worker: timing.Process, Start: at, End: at, Node: name})
		}
	}
	out, err := loadtest.MergeWith(orch, results...)
	if err != nil {
		tb.Fatal(err)
	}
	out.Phases, out.Operations, out.WarmupOperations = real.Phases, real.Operations, real.WarmupOperations
	return out
}
