package timing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/timing"
)

func TestMergeAlignsOnCorrectedAnchors(t *testing.T) {
	noon := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	// a's clock runs 2s ahead, so its anchor is 11:59:58 on the reference
	// clock; b's runs 500ms behind, so its anchor is 11:59:59.5. By raw wall
	// clock b would come first; corrected, a does, 1.5s before b.
	a := timing.Timeline{
		Node: "a", Anchor: noon, ClockOffset: 2 * time.Second, ClockError: 3 * ms,
		Marks: []timing.Mark{
			{Phase: timing.QueryFirst, Worker: 1, Start: 2100 * ms, End: 2200 * ms},
			{Phase: timing.PoolInit, Worker: timing.Process, Start: 0, End: 100 * ms},
			{Phase: timing.ScaleWarmup, Worker: timing.Process, Start: 2100 * ms, End: 2100 * ms},
		},
	}
	b := timing.Timeline{
		Node: "b", Anchor: noon.Add(-time.Second), ClockOffset: -500 * ms, ClockError: 7 * ms,
		Marks: []timing.Mark{
			{Phase: timing.CoordStart, Worker: timing.Process, Start: 0, End: 0, Node: "orchestrator"},
			{Phase: timing.QueryFirst, Worker: 0, Start: 600 * ms, End: 650 * ms},
		},
	}
	aMarks := append([]timing.Mark(nil), a.Marks...)

	got := timing.Merge(b, a, timing.Timeline{}) // the empty timeline places nothing

	assert.Equal(t, noon.Add(-2*time.Second), got.Anchor)
	assert.Empty(t, got.Node)
	assert.Zero(t, got.ClockOffset, "the merged timeline is on the reference clock")
	assert.Equal(t, 7*ms, got.ClockError, "the largest input bound")
	assert.Equal(t, []timing.Mark{
		{Phase: timing.PoolInit, Worker: timing.Process, Start: 0, End: 100 * ms, Node: "a"},
		{Phase: timing.CoordStart, Worker: timing.Process, Start: 1500 * ms, End: 1500 * ms, Node: "orchestrator"},
		// Same start: scale.warmup before query.first by phase order, then
		// query.first by node.
		{Phase: timing.ScaleWarmup, Worker: timing.Process, Start: 2100 * ms, End: 2100 * ms, Node: "a"},
		{Phase: timing.QueryFirst, Worker: 1, Start: 2100 * ms, End: 2200 * ms, Node: "a"},
		{Phase: timing.QueryFirst, Worker: 0, Start: 2100 * ms, End: 2150 * ms, Node: "b"},
	}, got.Marks)
	assert.Equal(t, aMarks, a.Marks, "inputs are not modified")
	assert.Empty(t, a.Marks[0].Node)

	// Every mark keeps its wall-clock position on the reference clock.
	for _, m := range got.Marks {
		ref := got.Anchor.Add(m.Start)
		src := a
		if m.Node != "a" {
			src = b
		}
		found := false
		for _, o := range src.Marks {
			if o.Phase == m.Phase && o.Worker == m.Worker {
				found = true
				assert.Equal(t, ref, src.Anchor.Add(o.Start).Add(-src.ClockOffset), "%s %d", m.Phase, m.Worker)
			}
		}
		assert.True(t, found, "%s %d", m.Phase, m.Worker)
	}
}

func TestMergeIsIdempotentOnMerged(t *testing.T) {
	tl := timing.Timeline{Node: "n", Anchor: time.Unix(100, 0).UTC(), ClockOffset: time.Second,
		Marks: []timing.Mark{{Phase: timing.Warmup, Start: 5, End: 9}}}
	once := timing.Merge(tl)
	assert.Equal(t, time.Unix(99, 0).UTC(), once.Anchor)
	assert.Equal(t, "n", once.Marks[0].Node)
	assert.Equal(t, once, timing.Merge(once))
}

func TestMergeNothing(t *testing.T) {
	assert.Equal(t, timing.Timeline{}, timing.Merge())
	assert.Equal(t, timing.Timeline{}, timing.Merge(timing.Timeline{Node: "x", Anchor: time.Now()}))
}

func TestFind(t *testing.T) {
	tl := sampleTimeline()
	got := tl.Find(timing.PoolConn)
	require.Len(t, got, 1)
	assert.Equal(t, "conn=0", got[0].Detail)
	assert.Nil(t, tl.Find(timing.Teardown))
}
