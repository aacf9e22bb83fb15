package live_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/live"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/timing"
)

// runChromium runs the browser with only the test's server resolving: a
// load from elsewhere fails.
func runChromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, _ := testenv.RunChromium(t, bin, "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", args...)
	return out
}

// The probe, added to the page for the test only: errors, and every
// resource the page loaded, at the load event (which the held image
// delays: meanwhile the page takes its events as it would).
const probe = `<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
window.addEventListener("load", function () {
  var r = { resources: performance.getEntriesByType("resource").map(function (e) { return e.name; }), errors: window.__errors };
  document.body.setAttribute("data-probe", JSON.stringify(r));
});
</script>`

// probed serves srv, with the probe and an image held for ?hold= ms in
// the page, so that Chromium's DOM dump and screenshot come after the
// page has lived that long; it counts the intervals the page could have
// had when it was served.
type probed struct {
	srv      *live.Server
	served   atomic.Int64 // intervals sent when the page was served
	interval *atomic.Int64
}

func (p *probed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/":
		hold := r.URL.Query().Get("hold")
		rec := httptest.NewRecorder()
		p.served.Store(p.interval.Load())
		p.srv.ServeHTTP(rec, r)
		page := strings.Replace(rec.Body.String(), "</body>", probe+`<img alt="" src="/hold?ms=`+hold+`"></body>`, 1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	case "/hold":
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		p.srv.ServeHTTP(w, r)
	}
}

type probeResult struct {
	Resources []string
	Errors    []string
}

func attr(t *testing.T, dom, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<body[^>]* ` + name + `="([^"]*)"`).FindStringSubmatch(dom)
	require.NotNil(t, m, "no %s on <body>:\n%.2000s", name, dom)
	return html.UnescapeString(m[1])
}

func readProbe(t *testing.T, dom, origin string) {
	t.Helper()
	var p probeResult
	require.NoError(t, json.Unmarshal([]byte(attr(t, dom, "data-probe")), &p))
	assert.Empty(t, p.Errors)
	for _, r := range p.Resources {
		assert.True(t, strings.HasPrefix(r, origin+"/"), "the page loads only from its server: %s", r)
	}
}

// TestLivePageInChromium runs a fleet of two nodes whose intervals a live
// merge feeds to the page: during the run Chromium's page receives
// intervals after it was served, with the nodes; at the end it shows the
// numbers of /result.json. Screenshots of both go to the folder
// STARTLINE_LIVE_SCREENSHOTS names, if set.
func TestLivePageInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	dir := os.Getenv("STARTLINE_LIVE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	srv := live.New("live-page")
	var intervals atomic.Int64
	first := make(chan struct{})
	var once sync.Once
	p := &probed{srv: srv, interval: &intervals}
	ts := httptest.NewServer(p)
	defer ts.Close()
	defer srv.Close()

	nodes := []string{"n0", "n1"}
	states := func(state string) []live.Node {
		var out []live.Node
		for _, n := range nodes {
			out = append(out, live.Node{Name: n, State: state})
		}
		return out
	}
	srv.Nodes(states("RUNNING"))
	mem := new(loadtest.MemoryStream)
	local := coordinate.NewLocal(coordinate.LocalOptions{})
	var m *loadtest.LiveMerge
	m, err := loadtest.NewLiveMerge(loadtest.LiveOptions{
		RunID: "live-page", Nodes: nodes, Interval: 200 * time.Millisecond,
		OnInterval: func(fi loadtest.FleetInterval) {
			// The nodes' startup, as their first intervals gave it.
			assert.NoError(t, srv.Timeline(m.Forming(timing.Timeline{})))
			srv.Interval(fi)
			intervals.Add(1)
			once.Do(func() { close(first) })
		},
	})
	require.NoError(t, err)
	fctx, stopFollow := context.WithCancel(context.Background())
	followed := make(chan error, 1)
	go func() { followed <- m.Follow(fctx, mem) }()
	results := make([]*loadtest.Result, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		r, err := loadtest.New(loadtest.Config{
			RunID: "live-page", Node: n, Pool: memPool{}, Workers: 2, Coordinator: local, Stream: mem,
			Interval: 200 * time.Millisecond, Warmup: 200 * time.Millisecond, Duration: 5 * time.Second,
			Workload: loadtest.Workload{Operations: []loadtest.Operation{{Name: "op", Weight: 1, Run: func(ctx context.Context, _ *loadtest.Worker) error {
				select {
				case <-time.After(time.Millisecond):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}}}},
		})
		require.NoError(t, err)
		wg.Go(func() { results[i], _ = r.Run(context.Background()) })
	}
	_, err = local.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: 2}, 10*time.Millisecond)
	require.NoError(t, err)

	// During the run.
	<-first
	dom := runChromium(t, bin, "--dump-dom", ts.URL+"/?hold=1500")
	got, err := strconv.Atoi(attr(t, dom, "data-intervals"))
	require.NoError(t, err)
	assert.Greater(t, int64(got), p.served.Load(), "the page received intervals after it was served")
	assert.Equal(t, "false", attr(t, dom, "data-done"))
	assert.Contains(t, dom, `<td class="st-RUNNING">RUNNING</td>`)
	assert.Contains(t, dom, `class="waterfall`, "the startup waterfall, formed from the nodes' first intervals")
	assert.Contains(t, dom, "Startup across 2 nodes")
	readProbe(t, dom, ts.URL)
	runChromium(t, bin, "--screenshot="+filepath.Join(dir, "live-running.png"), "--window-size=1300,1100", ts.URL+"/?hold=1200")

	wg.Wait()
	stopFollow()
	require.NoError(t, <-followed)
	merged, err := m.Finish(context.Background(), mem, timing.Timeline{}, results, nil)
	require.NoError(t, err)
	srv.Nodes(states("DONE"))
	require.NoError(t, srv.Done(merged))

	// At the end: the numbers of result.json.
	resp, err := http.Get(ts.URL + "/result.json")
	require.NoError(t, err)
	var doc struct {
		Phases struct {
			Measure struct {
				Ops    int64 `json:"ops"`
				Errors int64 `json:"errors"`
			} `json:"measure"`
		} `json:"phases"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	resp.Body.Close()
	require.Positive(t, doc.Phases.Measure.Ops)
	dom = runChromium(t, bin, "--dump-dom", ts.URL+"/?hold=1000")
	assert.Equal(t, "true", attr(t, dom, "data-done"))
	assert.Equal(t, strconv.FormatInt(doc.Phases.Measure.Ops, 10), attr(t, dom, "data-measure-ops"))
	assert.Contains(t, dom, `<td>measured ops</td><td class="num">`+strconv.FormatInt(doc.Phases.Measure.Ops, 10)+`</td>`)
	assert.Contains(t, dom, `<td class="st-DONE">DONE</td>`)
	assert.Contains(t, dom, `class="waterfall`, "the final fleet waterfall")
	readProbe(t, dom, ts.URL)
	runChromium(t, bin, "--screenshot="+filepath.Join(dir, "live-done.png"), "--window-size=1300,1400", ts.URL+"/?hold=1000")
}

// memPool is a pool whose sessions answer at once.
type memPool struct{}

func (memPool) Warm(ctx context.Context, opts pool.WarmOptions) error {
	return pool.WarmConns(ctx, opts, func(context.Context, int) (func(), error) { return func() {}, nil })
}
func (memPool) Session(context.Context) (pool.Session, error) { return memSession{}, nil }
func (memPool) Close() error                                  { return nil }

type memSession struct{}

func (memSession) Query(context.Context, string, ...any) (int64, error) { return 0, nil }
func (memSession) Close() error                                         { return nil }
