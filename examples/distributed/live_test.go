package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate/natscoord"
	"github.com/startline/startline/coordinate/natscoord/natsembed"
	"github.com/startline/startline/internal/cli"
	"github.com/startline/startline/loadtest"
)

// liveDoc is the part of the merged JSON that the live contract names.
type liveDoc struct {
	Stopped string `json:"stopped"`
	Phases  struct {
		Measure struct {
			Ops      int64 `json:"ops"`
			Duration int64 `json:"duration_ns"`
		} `json:"measure"`
	} `json:"phases"`
	Intervals []struct {
		Phase string `json:"phase"`
		Ops   int64  `json:"ops"`
	} `json:"intervals"`
	Workers []struct {
		Node   string `json:"node"`
		Lost   bool   `json:"lost"`
		LostNS *int64 `json:"lost_ns"`
		Phases struct {
			Measure struct {
				Ops int64 `json:"ops"`
			} `json:"measure"`
		} `json:"phases"`
	} `json:"workers"`
	Timeline []struct {
		Phase  string `json:"phase"`
		Detail string `json:"detail"`
	} `json:"timeline"`
}

func readLiveDoc(t *testing.T, path string) liveDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc liveDoc
	require.NoError(t, json.Unmarshal(b, &doc))
	return doc
}

// TestKilledNodeKeepsWhatItStreamed: 4 node processes, one SIGKILLed in
// the middle of the measured window, under -on-lost continue: the run
// succeeds, and the merged result holds the killed node, lost, with every
// interval it streamed before it died, counted in the fleet's totals.
// The stream travels through the results store's stream table (-coord
// sql) or over NATS (-coord nats).
func TestKilledNodeKeepsWhatItStreamed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the node process in /proc")
	}
	for _, coord := range []string{"sql", "nats"} {
		t.Run(coord, func(t *testing.T) { testKilledNode(t, coord) })
	}
}

func testKilledNode(t *testing.T, coord string) {
	path := filepath.Join(t.TempDir(), "live.db")
	f := testFlags(t, "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	f.workers, f.onLost, f.duration, f.warmup = 4, "continue", 6*time.Second, 200*time.Millisecond
	f.coord = coord
	// measured counts w01's measured intervals in the stream.
	var measured func() int
	if coord == "nats" {
		srv, err := natsembed.Start(natsembed.Options{})
		require.NoError(t, err)
		t.Cleanup(srv.Stop)
		f.nats = srv.ClientURL()
		nc, err := nats.Connect(f.nats)
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		src, err := natscoord.NewResults(nc)
		require.NoError(t, err)
		measured = func() int {
			recs, _ := src.Records(context.Background(), f.run, 0)
			n := 0
			for _, r := range recs {
				if bytes.Contains(r, []byte(`"node":"w01"`)) && bytes.Contains(r, []byte(`"phase":"measure"`)) {
					n++
				}
			}
			return n
		}
	} else {
		// The test reads the file on a connection of its own, which does
		// not set the journal mode (two connections switching it at once
		// fail with "database is locked": CI saw the orchestrator's seeding
		// fail so), and uses it only once the orchestrator has put the
		// file in WAL.
		db, err := sql.Open("sqlite3", "file:"+path+"?_pragma=busy_timeout(10000)")
		require.NoError(t, err)
		defer db.Close()
		measured = func() int {
			if _, err := os.Stat(path + "-wal"); err != nil {
				return 0
			}
			var n int
			_ = db.QueryRow("SELECT COUNT(*) FROM "+f.prefix+"stream WHERE run_id = ? AND node = ? AND record LIKE ?", f.run, "w01", `%"phase":"measure"%`).Scan(&n)
			return n
		}
	}
	done := orchestrateAsync(f)
	// Mid-measure: w01 has streamed two measured intervals. A run that
	// ends first, or a stream that never shows them, fails with what the
	// orchestrator printed.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(time.Minute); measured() < 2; {
		select {
		case o := <-done:
			t.Fatalf("the run ended before w01 streamed two measured intervals (%d): err %v\n%s", measured(), o.err, o.out)
		case <-tick.C:
		}
		if time.Now().After(end) {
			o := <-done
			t.Fatalf("w01 streamed %d measured intervals in a minute: err %v\n%s", measured(), o.err, o.out)
		}
	}
	killNode(t, f.run, "w01")
	o := <-done
	require.NoError(t, o.err, "%s", o.out)
	assert.Regexp(t, `(?m)^  w01 lost: kept [1-9]\d* measured ops from its stream$`, o.out)
	// How many nodes a line counts depends on whose intervals arrived in
	// time for it, which a loaded machine decides.
	assert.Regexp(t, `(?m)^fleet measure .*nodes [1-4] running, [01] lost`, o.out, "a progress line per fleet interval")

	doc := readLiveDoc(t, f.jsonPath)
	_, err := loadtest.ReadResultFile(f.jsonPath)
	require.NoError(t, err, "the merged result reads back, every count checked")
	require.Len(t, doc.Workers, 4)
	var sum int64
	for _, w := range doc.Workers {
		sum += w.Phases.Measure.Ops
		assert.Positive(t, w.Phases.Measure.Ops, w.Node)
		if w.Node == "w01" {
			assert.True(t, w.Lost, "w01 is marked lost")
			assert.NotNil(t, w.LostNS, "with the instant")
		} else {
			assert.False(t, w.Lost, w.Node)
		}
	}
	assert.Equal(t, sum, doc.Phases.Measure.Ops, "the killed node's operations are in the fleet's")
	var ivSum int64
	for _, iv := range doc.Intervals {
		if iv.Phase == "measure" {
			ivSum += iv.Ops
		}
	}
	assert.Equal(t, doc.Phases.Measure.Ops, ivSum, "the fleet's intervals add up to its measured window")
}

// TestThresholdAbortsTheFleet: a threshold that cannot hold, with
// -abort-on-fail, stops every node long before the end of its minute;
// the result names it, the timeline marks it, and the command fails.
func TestThresholdAbortsTheFleet(t *testing.T) {
	f := testFlags(t, "")
	f.duration = time.Minute
	f.thresholds, f.abortOnFail = cli.List{"p99<1us"}, true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	_, err := orchestrate(ctx, &out, f)
	require.ErrorContains(t, err, "run aborted: threshold p99<1us failed", "%s", &out)
	assert.Contains(t, out.String(), "threshold FAIL p99<1us")
	doc := readLiveDoc(t, f.jsonPath)
	_, err = loadtest.ReadResultFile(f.jsonPath)
	require.NoError(t, err, "the merged result reads back, every count checked")
	assert.Regexp(t, `^threshold p99<1us failed \S+ into the measured window`, doc.Stopped)
	assert.Less(t, doc.Phases.Measure.Duration, int64(time.Minute), "the measured window ended early")
	var marks int
	for _, m := range doc.Timeline {
		if m.Phase == "coord.threshold" {
			marks++
			assert.Contains(t, m.Detail, "p99<1us")
		}
	}
	assert.Equal(t, 1, marks, "one coord.threshold mark")
}

// TestLivePage: with -live, during the run GET / is the HTML page and GET
// /events a text/event-stream that delivers fleet intervals.
func TestLivePage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	f := testFlags(t, "")
	f.live, f.duration = addr, 4*time.Second
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var out bytes.Buffer
		_, err := orchestrate(ctx, &out, f)
		done <- err
	}()
	var page string
	for end := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
			page = string(b)
			break
		}
		require.False(t, time.Now().After(end), "the page was never served: %v", err)
	}
	assert.Contains(t, page, "startline live: "+f.run)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/events", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	// An interval event, and a nodes event in which a running node is in
	// its measured window (its stream says so).
	var interval string
	measuring := false
	for (interval == "" || !measuring) && sc.Scan() {
		switch sc.Text() {
		case "event: interval":
			if sc.Scan() && interval == "" {
				interval = sc.Text()
			}
		case "event: nodes":
			if sc.Scan() && strings.Contains(sc.Text(), `"state":"RUNNING","phase":"measure"`) {
				measuring = true
			}
		}
	}
	resp.Body.Close()
	assert.True(t, measuring, "the page showed a running node in its measured window")
	require.True(t, strings.HasPrefix(interval, "data: {"), "an interval event: %q", interval)
	var fi struct {
		Phase string `json:"phase"`
		Nodes int    `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(interval, "data: ")), &fi))
	assert.Positive(t, fi.Nodes)
	require.NoError(t, <-done)
}

// Bad flags of the fleet, live, are refused before anything starts, each
// naming its flag.
func TestBadLiveFlags(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*flags)
		want string
	}{
		{func(f *flags) { f.thresholds = cli.List{"p42<1s"} }, `-threshold: threshold "p42<1s": unknown metric`},
		{func(f *flags) { f.abortOnFail = true }, "-abort-on-fail: give the thresholds"},
		{func(f *flags) { f.thresholds, f.abortOnFail, f.abortGrace = cli.List{"p99<1s"}, true, -time.Second }, "-abort-grace: must not be negative"},
		{func(f *flags) { f.abortGrace = time.Second }, "-abort-grace: only means something with -abort-on-fail"},
		{func(f *flags) { f.live = "127.0.0.1:-1" }, "-live: "},
	} {
		f := testFlags(t, "")
		tc.mod(&f)
		_, err := orchestrate(context.Background(), &bytes.Buffer{}, f)
		require.ErrorContains(t, err, tc.want)
	}
}
