package timing_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/timing"
)

func sampleTimeline() timing.Timeline {
	return timing.Timeline{
		Node:        "worker-a",
		Anchor:      time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC),
		ClockOffset: 1500 * time.Microsecond,
		ClockError:  200 * time.Microsecond,
		Marks: []timing.Mark{
			{Phase: timing.PoolInit, Worker: timing.Process, Start: 10 * time.Microsecond, End: 120 * time.Millisecond},
			{Phase: timing.PoolConn, Worker: timing.Process, Start: 20 * time.Microsecond, End: 80 * time.Millisecond, Detail: "conn=0"},
			{Phase: timing.CoordStart, Worker: timing.Process, Start: time.Second, End: time.Second, Node: "orchestrator"},
			{Phase: timing.QueryFirst, Worker: 3, Start: 1100 * time.Millisecond, End: 1200 * time.Millisecond, Err: "boom"},
		},
	}
}

func TestMarkJSONForm(t *testing.T) {
	b, err := json.Marshal(timing.Mark{Phase: timing.QueryFirst, Worker: 0, Start: 5, End: 7})
	require.NoError(t, err)
	assert.JSONEq(t, `{"phase":"query.first","worker":0,"start_ns":5,"end_ns":7}`, string(b),
		"empty error, detail and node are left out; worker 0 is kept")

	b, err = json.Marshal(timing.Mark{Phase: timing.PoolConn, Worker: timing.Process, Start: 1, End: 2,
		Err: "refused", Detail: "conn=3", Node: "n1"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"phase":"pool.conn","worker":-1,"start_ns":1,"end_ns":2,
		"error":"refused","detail":"conn=3","node":"n1"}`, string(b))
}

func TestTimelineJSONForm(t *testing.T) {
	tl := sampleTimeline()
	tl.Marks = tl.Marks[:1]
	b, err := json.Marshal(tl)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"node":"worker-a",
		"anchor":"2025-03-14T09:26:53.589793238Z",
		"clock_offset_ns":1500000,
		"clock_error_ns":200000,
		"marks":[{"phase":"pool.init","worker":-1,"start_ns":10000,"end_ns":120000000}]
	}`, string(b))

	b, err = json.Marshal(timing.Timeline{Anchor: tl.Anchor})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"marks":[]`, "no marks encode as an empty array, not null")

	// The anchor is written in UTC whatever its zone.
	tl.Anchor = tl.Anchor.In(time.FixedZone("X", 2*3600))
	b, err = json.Marshal(tl)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"anchor":"2025-03-14T09:26:53.589793238Z"`)
}

func TestTimelineJSONRoundTrip(t *testing.T) {
	for name, tl := range map[string]timing.Timeline{
		"full":     sampleTimeline(),
		"no marks": {Node: "n", Anchor: time.Date(2024, 1, 1, 0, 0, 0, 1, time.UTC)},
		"negative": {Anchor: time.Unix(0, 0).UTC(), ClockOffset: -3 * time.Millisecond, Marks: []timing.Mark{
			{Phase: "custom.phase", Worker: 7, Start: -time.Second, End: -time.Millisecond},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(tl)
			require.NoError(t, err)
			var got timing.Timeline
			require.NoError(t, json.Unmarshal(b, &got))
			assert.Equal(t, tl, got)
		})
	}
}

func TestRecorderTimelineRoundTrip(t *testing.T) {
	r := timing.NewRecorder("local", 4)
	start := r.Now()
	r.Span(timing.PoolInit, timing.Process, start, errors.New("dial: refused"))
	r.Instant(timing.CoordStart, timing.Process, r.Now())
	r.SetClockOffset(time.Millisecond, 10*time.Microsecond)
	tl := r.Timeline()

	b, err := json.Marshal(tl)
	require.NoError(t, err)
	var got timing.Timeline
	require.NoError(t, json.Unmarshal(b, &got))
	assert.True(t, tl.Anchor.Equal(got.Anchor), "anchor %v != %v", tl.Anchor, got.Anchor)
	assert.Equal(t, time.UTC, got.Anchor.Location())
	got.Anchor = tl.Anchor // the zone is normalised to UTC; the instant is kept
	assert.Equal(t, tl, got)
}

func TestTimelineJSONDecodeErrors(t *testing.T) {
	const anchor = `"anchor":"2025-03-14T09:26:53Z"`
	tests := []struct {
		name, in string
		index    int
		field    string
		msg      string
	}{
		{
			name:  "empty phase",
			in:    `{` + anchor + `,"marks":[{"phase":"warmup","worker":0,"start_ns":1,"end_ns":2},{"phase":"","worker":0,"start_ns":1,"end_ns":2}]}`,
			index: 1, field: "phase", msg: "timing: marks[1].phase: empty",
		},
		{
			name:  "missing phase",
			in:    `{` + anchor + `,"marks":[{"worker":0,"start_ns":1,"end_ns":2}]}`,
			index: 0, field: "phase", msg: "timing: marks[0].phase: empty",
		},
		{
			name:  "end before start",
			in:    `{` + anchor + `,"marks":[{"phase":"warmup","worker":0,"start_ns":5,"end_ns":4}]}`,
			index: 0, field: "end_ns", msg: "timing: marks[0].end_ns: 4 is before start_ns 5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := timing.Timeline{Node: "untouched"}
			err := json.Unmarshal([]byte(tt.in), &tl)
			require.Error(t, err)
			assert.EqualError(t, err, tt.msg)
			assert.ErrorIs(t, err, timing.ErrInvalidMark)
			var me *timing.MarkError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, tt.index, me.Index)
			assert.Equal(t, tt.field, me.Field)
			assert.Equal(t, "untouched", tl.Node, "a failed decode leaves the timeline as it was")
		})
	}

	t.Run("bad anchor", func(t *testing.T) {
		var tl timing.Timeline
		err := json.Unmarshal([]byte(`{"anchor":"yesterday","marks":[]}`), &tl)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "timing: timeline: anchor")
		assert.NotErrorIs(t, err, timing.ErrInvalidMark)
	})
	t.Run("wrong type", func(t *testing.T) {
		var tl timing.Timeline
		err := json.Unmarshal([]byte(`{"anchor":"2025-03-14T09:26:53Z","marks":[{"phase":"x","start_ns":"soon"}]}`), &tl)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "timing: timeline:")
	})
	t.Run("inside a slice", func(t *testing.T) {
		var tls []timing.Timeline
		err := json.Unmarshal([]byte(`[{`+anchor+`,"marks":[]},{`+anchor+`,"marks":[{"phase":"","start_ns":0,"end_ns":0}]}]`), &tls)
		var me *timing.MarkError
		require.ErrorAs(t, err, &me)
		assert.Equal(t, "phase", me.Field)
	})
}

func TestMarkJSONDecode(t *testing.T) {
	var m timing.Mark
	require.NoError(t, json.Unmarshal([]byte(`{"phase":"pool.conn","worker":-1,"start_ns":3,"end_ns":9,"detail":"conn=1"}`), &m))
	assert.Equal(t, timing.Mark{Phase: timing.PoolConn, Worker: timing.Process, Start: 3, End: 9, Detail: "conn=1"}, m)

	err := json.Unmarshal([]byte(`{"phase":"pool.conn","start_ns":3,"end_ns":2}`), &m)
	assert.EqualError(t, err, "timing: mark: end_ns: 2 is before start_ns 3")
	var me *timing.MarkError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, -1, me.Index)
}
