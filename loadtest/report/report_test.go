package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/report"
	"github.com/startline/startline/timing"
)

func render(t *testing.T, results ...*loadtest.Result) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, report.WriteHTML(&b, results...))
	return b.String()
}

func TestWriteHTMLDrawsEveryMarkAndSeries(t *testing.T) {
	res := synth(t, 12, 60)
	html := render(t, res)

	assert.Equal(t, spans(res), strings.Count(html, `class="wf-bar `), "one bar per span mark")
	assert.Equal(t, 1, strings.Count(html, `class="wf-instant"`), "coord.start is an instant")
	assert.Equal(t, 1, strings.Count(html, `class="wf-signal"`))
	assert.Equal(t, 4, strings.Count(html, `class="series `), "throughput, p50, p99, distribution")
	assert.Equal(t, 2, strings.Count(html, `class="win-warmup"`), "warmup shaded on both time charts")
	assert.Equal(t, 2, strings.Count(html, `class="win-measure"`))
	// The longest span before the first query is setup.profile (480ms).
	assert.Contains(t, html, "Longest span before the first query: setup.profile: 480ms")
	assert.Equal(t, 1, strings.Count(html, " longest\""))
	assert.Contains(t, html, "From the start signal to each worker&#39;s first query: min 40ms")
	// The per-operation table.
	assert.Contains(t, html, "<td>point_select</td><td>18000</td>")
	assert.Contains(t, html, "<td>update</td><td>2000</td>")
	// No thresholds, no table.
	assert.NotContains(t, html, `class="thresholds"`)
	// One row per process phase, one per worker.
	assert.Equal(t, 11+12, strings.Count(html, `class="row-label"`), "11 process phases (coord.start included), 12 workers")
}

func TestWriteHTMLLoadsNothing(t *testing.T) {
	html := render(t, synth(t, 4, 10))
	for _, s := range []string{"http:", "https:", "//", "<script", "<link", "src=", "href=", "@import", "url("} {
		// "//" may appear only inside the doctype-free text, never as a
		// protocol-relative reference.
		if s == "//" {
			assert.NotContains(t, html, `"//`)
			continue
		}
		assert.NotContains(t, html, s)
	}
}

func TestWriteHTMLEscapesLabels(t *testing.T) {
	res := synth(t, 2, 5)
	evil := `<script>alert("x")</script>`
	res.Node = `<b>node</b>`
	res.Timeline.Marks[0].Err = `<img src=x onerror=alert(1)>`
	res.Timeline.Marks = append(res.Timeline.Marks, timing.Mark{Phase: timing.Phase(`<i>custom</i>`), Worker: timing.Process, Start: 0, End: 1})
	res.Operations[evil] = res.Operations["update"]
	res.Error = `</section><h1>pwned</h1>`
	html := render(t, res)

	for _, raw := range []string{"<script", "<img", "<b>node", "<i>custom", "<h1>pwned"} {
		assert.NotContains(t, html, raw)
	}
	assert.Contains(t, html, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
	assert.Contains(t, html, "&lt;img src=x onerror=alert(1)&gt;")
	assert.Contains(t, html, "&lt;i&gt;custom&lt;/i&gt;")
	assert.Contains(t, html, "node &lt;b&gt;node&lt;/b&gt;")
}

func TestWriteHTMLSeveralAndEmpty(t *testing.T) {
	a, b := synth(t, 2, 5), synth(t, 3, 5)
	b.RunID = "second"
	html := render(t, a, b)
	assert.Equal(t, 2, strings.Count(html, `<section class="result">`))
	assert.Contains(t, html, "Run second")
	assert.Equal(t, spans(a)+spans(b), strings.Count(html, `class="wf-bar `))

	// A result with nothing in it still renders, and says so.
	html = render(t, &loadtest.Result{RunID: "empty"})
	assert.Contains(t, html, "no timing marks")
	assert.Contains(t, html, "no intervals")
	assert.Contains(t, html, "No operation succeeded")

	assert.Error(t, report.WriteHTML(&bytes.Buffer{}))
	assert.Error(t, report.WriteHTML(&bytes.Buffer{}, nil))
}

func TestWriteIntervalsCSV(t *testing.T) {
	res := synth(t, 2, 5)
	var b bytes.Buffer
	require.NoError(t, report.WriteIntervalsCSV(&b, res))
	recs, err := csv.NewReader(&b).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 1+3*len(res.Intervals), "header, then a total row and a row per operation per interval")
	assert.Equal(t, []string{"run_id", "node", "start_ns", "duration_ns", "phase", "operation", "ops"}, recs[0][:7])
	assert.Equal(t, "", recs[1][5])
	assert.Equal(t, "point_select", recs[2][5])
	assert.Equal(t, "update", recs[3][5])
	assert.Equal(t, "warmup", recs[1][4])
	assert.Equal(t, "measure", recs[len(recs)-1][4])
	iv := res.Intervals[0]
	assert.Equal(t, []string{"synthetic", "host-1", "1330000000", "1000000000"}, recs[1][:4])
	assert.Equal(t, strconv.FormatInt(iv.Ops, 10), recs[1][6])
	assert.Equal(t, strconv.FormatInt(int64(iv.Latency.P99), 10), recs[1][13])
}

func TestWriteIntervalsJSONL(t *testing.T) {
	res := synth(t, 2, 5)
	var b bytes.Buffer
	require.NoError(t, report.WriteIntervalsJSONL(&b, res))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	require.Len(t, lines, len(res.Intervals))
	for i, line := range lines {
		var got struct {
			RunID string `json:"run_id"`
			Node  string `json:"node"`
			loadtest.Interval
		}
		require.NoError(t, json.Unmarshal([]byte(line), &got))
		assert.Equal(t, "synthetic", got.RunID)
		assert.Equal(t, "host-1", got.Node)
		assert.Equal(t, res.Intervals[i], got.Interval)
	}
}

// BenchmarkWriteHTML renders the report of a one-hour run of 100 workers:
// 3600 measured intervals (and the warmup's), 100 workers' marks and 100
// connections'.
func BenchmarkWriteHTML(b *testing.B) {
	benchWriteHTML(b, synth(b, 100, 3600))
}

// benchWriteHTML renders res's report b.N times and reports its size.
func benchWriteHTML(b *testing.B, res *loadtest.Result) {
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := report.WriteHTML(&buf, res); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/report")
}

func TestWriteHTMLThresholds(t *testing.T) {
	res := synth(t, 2, 5)
	res.Thresholds = []loadtest.ThresholdResult{
		{Name: "p99<5ms", OK: false, Value: float64(9400 * time.Microsecond), Limit: float64(5 * time.Millisecond)},
		{Name: "error_rate<0.01", OK: true, Value: 0.001, Limit: 0.01},
	}
	html := render(t, res)
	assert.Contains(t, html, "<td>p99&lt;5ms</td><td>9.4ms</td><td>5ms</td><td class=\"alert\">NO</td>")
	assert.Contains(t, html, "<td>error_rate&lt;0.01</td><td>0.001</td><td>0.01</td><td class=\"ok\">yes</td>")
}

// TestWriteHTMLMergedStart: a result merged from several processes shows
// the fleet view: the start across them, with each process's first query
// relative to T, and each process in its own <details>.
func TestWriteHTMLMergedStart(t *testing.T) {
	a, b := synth(t, 2, 5), synth(t, 2, 5)
	a.Node, b.Node = "host-a", "host-<b>"
	a.Timeline.Node, b.Timeline.Node = a.Node, b.Node
	merged, err := loadtest.Merge(a, b)
	require.NoError(t, err)
	require.NotNil(t, merged.Start)
	html := render(t, merged)
	assert.Contains(t, html, "Startup across 2 nodes")
	assert.Contains(t, html, "First query across the fleet")
	assert.Contains(t, html, "<summary>host-a · first query T&#43;40ms")
	assert.Contains(t, html, "<summary>host-&lt;b&gt; · first query T&#43;40ms", "process names are escaped")
	assert.NotContains(t, render(t, a), "First query across the fleet", "a single process has no fleet view")
}
