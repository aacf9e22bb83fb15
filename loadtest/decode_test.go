package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/timing"
)

// sampleResult is a small result with histograms and marks.
func sampleResult(t *testing.T) *Result {
	t.Helper()
	var ta tally
	for i := 1; i <= 10; i++ {
		ta.record(time.Duration(i)*time.Millisecond, nil, 0)
	}
	ta.record(time.Millisecond, errors.New("boom"), pool.KindOther)
	anchor := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	return &Result{
		RunID: "r1", Node: "n1", StartedAt: anchor,
		Timeline: timing.Timeline{Node: "n1", Anchor: anchor, Marks: []timing.Mark{
			{Phase: timing.PoolInit, Worker: timing.Process, Start: 0, End: 5 * time.Millisecond},
			{Phase: timing.CoordStart, Worker: timing.Process, Start: 6 * time.Millisecond, End: 6 * time.Millisecond},
			{Phase: timing.QueryFirst, Worker: 0, Start: 7 * time.Millisecond, End: 9 * time.Millisecond},
		}},
		Config:     RunConfig{Workers: 1, Conns: 1, Duration: time.Second, Operations: []OpConfig{{Name: "q", Weight: 1}}},
		Phases:     Phases{Measure: ta.stats(time.Second)},
		Operations: map[string]Stats{"q": ta.stats(time.Second)},
	}
}

func indented(t *testing.T, r *Result) string {
	t.Helper()
	b, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	return string(b)
}

// lineOf is the 1-based line of the first line of s containing sub.
func lineOf(t *testing.T, s, sub string) int {
	t.Helper()
	i := strings.Index(s, sub)
	require.GreaterOrEqual(t, i, 0, "%q not in input", sub)
	return 1 + strings.Count(s[:i], "\n")
}

func TestDecodeResultRoundTrip(t *testing.T) {
	want := sampleResult(t)
	got, err := DecodeResult(strings.NewReader(indented(t, want)))
	require.NoError(t, err)
	assert.Equal(t, want.Timeline, got.Timeline)
	assert.Equal(t, want.Config, got.Config)
	assert.Equal(t, want.Phases.Measure.Latency, got.Phases.Measure.Latency)
	require.NotNil(t, got.Phases.Measure.Histogram)
	assert.Equal(t, int64(10), got.Phases.Measure.Histogram.Count())
	assert.Equal(t, want.Phases.Measure.Histogram.Quantile(50), got.Phases.Measure.Histogram.Quantile(50))
}

func TestDecodeResultIgnoresUnknownFields(t *testing.T) {
	// A result from a later version may hold more fields.
	s := strings.Replace(indented(t, sampleResult(t)), `"run_id": "r1",`, `"run_id": "r1", "added_later": {"x": [1, 2]},`, 1)
	got, err := DecodeResult(strings.NewReader(s))
	require.NoError(t, err)
	assert.Equal(t, "r1", got.RunID)
}

func TestDecodeResultNamesLineAndField(t *testing.T) {
	good := indented(t, sampleResult(t))
	measureOps := `"measure": {` + "\n" + `      "ops": 11,`
	require.Contains(t, good, measureOps)
	tests := []struct {
		name, from, to string
		field, lineAt  string // the field named, the text on the line named
		wrapped        any
	}{
		{"wrong type", measureOps, `"measure": {` + "\n" + `      "ops": "eleven",`, "phases.measure.ops", `"eleven"`, new(*json.UnmarshalTypeError)},
		{"syntax", `"node": "n1",`, `"node": "n1",,`, "node", `"node": "n1",,`, new(*json.SyntaxError)},
		{"mark end before start", `"end_ns": 9000000`, `"end_ns": 1`, "timeline[2].end_ns", `"end_ns": 1`, new(*timing.MarkError)},
		{"mark without phase", `"phase": "pool.init"`, `"phase": ""`, "timeline[0].phase", `"phase": ""`, new(*timing.MarkError)},
		{"bad histogram", `"histogram": "`, `"histogram": "AAAA`, "phases.measure.histogram", `"histogram": "AAAA`, nil},
		{"errors beyond ops", measureOps + "\n" + `      "errors": 1,`, measureOps + "\n" + `      "errors": 12,`, "phases.measure.errors", `"errors": 12,`, nil},
		{"no run id", `"run_id": "r1"`, `"run_id": ""`, "run_id", `"run_id": ""`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Contains(t, good, tt.from)
			bad := strings.Replace(good, tt.from, tt.to, 1)
			_, err := DecodeResult(strings.NewReader(bad))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrBadResult)
			de, ok := errors.AsType[*DecodeError](err)
			require.True(t, ok, "%T", err)
			assert.Equal(t, tt.field, de.Field)
			assert.Equal(t, lineOf(t, bad, tt.lineAt), de.Line, "line of %q in:\n%s", tt.lineAt, bad)
			assert.Positive(t, de.Column)
			assert.Contains(t, err.Error(), "field "+tt.field)
			if tt.wrapped != nil {
				assert.ErrorAs(t, err, tt.wrapped)
			}
		})
	}
}

func TestDecodeResultTruncated(t *testing.T) {
	good := indented(t, sampleResult(t))
	// Cut short anywhere, the result is refused, and the error points at
	// the end of what is there.
	for cut := 1; cut < len(good); cut += 7 {
		_, err := DecodeResult(strings.NewReader(good[:cut]))
		require.ErrorIs(t, err, ErrBadResult, "cut at %d", cut)
		de, _ := errors.AsType[*DecodeError](err)
		require.NotNil(t, de)
		assert.Equal(t, 1+strings.Count(good[:cut], "\n"), de.Line, "cut at %d", cut)
	}
	// Cut inside the measure phase: the field says so.
	cut := strings.Index(good, `"throughput_per_s"`)
	cut = strings.Index(good[cut+1:], `"throughput_per_s"`) + cut + 1 // the measure phase's
	_, err := DecodeResult(strings.NewReader(good[:cut+5]))
	de, _ := errors.AsType[*DecodeError](err)
	require.NotNil(t, de)
	assert.True(t, strings.HasPrefix(de.Field, "phases.measure."), de.Field)
	assert.Contains(t, err.Error(), "cut short")
}

func TestDecodeResultRefusesEmptyAndTrailing(t *testing.T) {
	_, err := DecodeResult(strings.NewReader("  \n"))
	assert.ErrorIs(t, err, ErrBadResult)
	assert.Contains(t, err.Error(), "empty")

	good := indented(t, sampleResult(t))
	_, err = DecodeResult(strings.NewReader(good + "\n" + good))
	require.ErrorIs(t, err, ErrBadResult)
	de, _ := errors.AsType[*DecodeError](err)
	require.NotNil(t, de)
	assert.Equal(t, 2+strings.Count(good, "\n"), de.Line)
	assert.Equal(t, 1, de.Column)
}

func TestReadResultFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	var buf bytes.Buffer
	require.NoError(t, JSONSink{W: &buf, Indent: true}.Write(t.Context(), sampleResult(t)))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	res, err := ReadResultFile(path)
	require.NoError(t, err)
	assert.Len(t, res.Timeline.Marks, 3)

	require.NoError(t, os.WriteFile(path, buf.Bytes()[:buf.Len()/2], 0o600))
	_, err = ReadResultFile(path)
	require.ErrorIs(t, err, ErrBadResult)
	assert.Contains(t, err.Error(), path+":")

	_, err = ReadResultFile(filepath.Join(dir, "missing.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// A merged result's per-process timelines are checked too, and a bad mark
// there is named by its path.
func TestDecodeResultMergedWorkersMarks(t *testing.T) {
	a, b := sampleResult(t), sampleResult(t)
	b.Node, b.Timeline.Node = "n2", "n2"
	merged, err := Merge(a, b)
	require.NoError(t, err)
	require.Len(t, merged.Workers, 2)
	good := indented(t, merged)
	got, err := DecodeResult(strings.NewReader(good))
	require.NoError(t, err)
	assert.Equal(t, merged.Workers[1].Marks, got.Workers[1].Marks)

	// The second process's third mark, hand-edited to end before it starts.
	i := strings.Index(good, `"workers"`)
	i += strings.Index(good[i:], `"node": "n2"`)
	j := i + strings.Index(good[i:], `"end_ns": 9000000`)
	bad := good[:j] + `"end_ns": 5` + good[j+len(`"end_ns": 9000000`):]
	_, err = DecodeResult(strings.NewReader(bad))
	de, ok := errors.AsType[*DecodeError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "workers[1].timeline[2].end_ns", de.Field)
	assert.Equal(t, 1+strings.Count(bad[:j], "\n"), de.Line)
	assert.ErrorIs(t, err, timing.ErrInvalidMark)
}
