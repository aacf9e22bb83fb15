package report_test

import (
	"bytes"
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest/report"
)

// The probe is added to a copy of the report for the test only (the report
// itself has no script). The first part, at the top of <head>, collects
// errors; the second, at the end of <body>, counts what was rendered: bars
// with a size and a fill from the stylesheet, series with a length, and
// resources the page loaded (there must be none).
const probeHead = `<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
(function () { var orig = console.error; console.error = function () { window.__errors.push(Array.from(arguments).join(" ")); orig.apply(console, arguments); }; })();
</script>`

const probeBody = `<script>
(function () {
  function sized(e) { var b = e.getBBox(); return b.width > 0 && b.height > 0; }
  var bars = Array.from(document.querySelectorAll("svg.waterfall rect.wf-bar"));
  var result = {
    bars: bars.filter(function (e) { return sized(e) && getComputedStyle(e).fill !== "rgb(0, 0, 0)"; }).length,
    series: Array.from(document.querySelectorAll("svg.chart path.series")).filter(function (e) { return e.getTotalLength() > 0; }).length,
    charts: document.querySelectorAll("svg.chart").length,
    signal: document.querySelectorAll("svg.waterfall line.wf-signal").length,
    resources: performance.getEntriesByType("resource").length,
    errors: window.__errors
  };
  document.body.setAttribute("data-probe", JSON.stringify(result));
})();
</script>`

type probe struct {
	Bars, Series, Charts, Signal, Resources int
	Errors                                  []string
}

// runChromium runs the browser with no name resolving: any fetch would
// show as an error.
func runChromium(t *testing.T, bin string, args ...string) (stdout, stderr string) {
	t.Helper()
	return testenv.RunChromium(t, bin, "MAP * ~NOTFOUND", args...)
}

func TestReportInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	a, b := synth(t, 6, 30), synth(t, 3, 10)
	b.RunID = `<b>second</b>`
	var buf bytes.Buffer
	require.NoError(t, report.WriteHTML(&buf, a, b))
	page := buf.String()
	page = strings.Replace(page, "<head>", "<head>"+probeHead, 1)
	page = strings.Replace(page, "</body>", probeBody+"</body>", 1)
	path := filepath.Join(t.TempDir(), "report.html")
	require.NoError(t, os.WriteFile(path, []byte(page), 0o600))

	dom, logs := runChromium(t, bin, "--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+path)
	m := regexp.MustCompile(`data-probe="([^"]*)"`).FindStringSubmatch(dom)
	require.NotNil(t, m, "the probe did not run; browser log:\n%s", logs)
	var got probe
	require.NoError(t, json.Unmarshal([]byte(html.UnescapeString(m[1])), &got))

	assert.Equal(t, spans(a)+spans(b), got.Bars, "every span mark is a painted bar")
	assert.Equal(t, 2*4, got.Series, "throughput, p50, p99 and the distribution, per result")
	assert.Equal(t, 2*3, got.Charts)
	assert.Equal(t, 2, got.Signal, "the start signal line, per result")
	assert.Zero(t, got.Resources, "the report loads nothing")
	assert.Empty(t, got.Errors)
	for _, bad := range []string{"Uncaught", "Failed to load resource", "net::ERR_"} {
		assert.NotContains(t, logs, bad)
	}
	// The label with markup is shown as text, not as markup.
	assert.Contains(t, dom, "Run &lt;b&gt;second&lt;/b&gt;")
}

// TestReportScreenshot saves a screenshot of a report where
// STARTLINE_REPORT_SCREENSHOT says, for people to look at.
func TestReportScreenshot(t *testing.T) {
	out := os.Getenv("STARTLINE_REPORT_SCREENSHOT")
	if out == "" {
		t.Skip("set STARTLINE_REPORT_SCREENSHOT=FILE.png to save a screenshot of a report")
	}
	bin := testenv.Chromium(t)
	var buf bytes.Buffer
	require.NoError(t, report.WriteHTML(&buf, synth(t, 24, 120)))
	path := filepath.Join(t.TempDir(), "report.html")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	runChromium(t, bin, "--screenshot="+out, "--window-size=1400,2000", "file://"+path)
	st, err := os.Stat(out)
	require.NoError(t, err)
	assert.Positive(t, st.Size())
}

// TestFleetReportInChromium renders the report of a merged result of 8
// nodes (a real run's) and of 100 and 1,000 (made from it) in headless
// Chromium: every node has its <details>, closed, the page loads nothing
// and has no errors, and the first screen (1400x900) of 8 and of 1,000 is
// saved as a screenshot, into the folder STARTLINE_REPORT_SCREENSHOTS
// names if set (fleet-8.png, fleet-1000.png, beside the pages,
// fleet-N.html), for people to look at. The page's size and the time from
// navigation to its load event and layout are logged (see PERFORMANCE.md).
func TestFleetReportInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	dir := os.Getenv("STARTLINE_REPORT_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	for _, n := range []int{8, 100, 1000} {
		res := readReal(t)
		if n != 8 {
			res = fleet(t, n)
		}
		var buf bytes.Buffer
		require.NoError(t, report.WriteHTML(&buf, res))
		page := buf.String()
		path := filepath.Join(dir, "fleet-"+strconv.Itoa(n)+".html")
		require.NoError(t, os.WriteFile(path, []byte(page), 0o600))
		shot := "(none)"
		if n != 100 {
			shot = filepath.Join(dir, "fleet-"+strconv.Itoa(n)+".png")
			runChromium(t, bin, "--screenshot="+shot, "--window-size=1400,900", "file://"+path)
			st, err := os.Stat(shot)
			require.NoError(t, err)
			assert.Positive(t, st.Size())
		}

		probed := strings.Replace(page, "<head>", "<head>"+probeHead, 1)
		probed = strings.Replace(probed, "</body>", fleetProbe+"</body>", 1)
		path = filepath.Join(t.TempDir(), "probed.html")
		require.NoError(t, os.WriteFile(path, []byte(probed), 0o600))
		dom, logs := runChromium(t, bin, "--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+path)
		m := regexp.MustCompile(`data-probe="([^"]*)"`).FindStringSubmatch(dom)
		require.NotNil(t, m, "the probe did not run; browser log:\n%s", logs)
		var got struct {
			Details, Open, Rows, Resources int
			Errors                         []string
			Loaded                         float64
		}
		require.NoError(t, json.Unmarshal([]byte(html.UnescapeString(m[1])), &got))
		assert.Equal(t, n, got.Details, "%d nodes", n)
		assert.Zero(t, got.Open, "every node's details is closed")
		assert.Equal(t, 3+13+2, got.Rows, "the fleet waterfall's rows")
		assert.Zero(t, got.Resources, "the report loads nothing")
		assert.Empty(t, got.Errors)
		t.Logf("%d nodes: %d bytes, loaded and laid out at %.0f ms; screenshot %s", n, len(page), got.Loaded, shot)
	}
}

// fleetProbe counts what the fleet view rendered, at the load event, and
// when the page was laid out (from the start of navigation).
const fleetProbe = `<script>
window.addEventListener("load", function () {
  document.body.getBoundingClientRect(); // style and layout, if not done
  var loaded = performance.now();
  var d = Array.from(document.querySelectorAll("details.node"));
  var result = {
    details: d.length,
    open: d.filter(function (e) { return e.open; }).length,
    rows: document.querySelectorAll("svg.waterfall.fleet .row-label, svg.waterfall.fleet .row-head").length,
    resources: performance.getEntriesByType("resource").length,
    errors: window.__errors,
    loaded: loaded
  };
  document.body.setAttribute("data-probe", JSON.stringify(result));
});
</script>`
