package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/cli"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
)

// capacityTestFlags are a short capacity search of 3 steps on 3 nodes: steps
// of a 150ms warmup and a 1s window, from 60/s for the fleet, under an
// SLO that a loaded machine holds.
func capacityTestFlags(t *testing.T, dsn string) flags {
	f := testFlags(t, dsn)
	f.warmup, f.duration = 150*time.Millisecond, time.Second
	f.capacity = capacityFlags{on: true, slo: cli.List{"p99<5s"}, search: loadtest.CapacitySearch{MaxSteps: 3, Start: 60, Factor: 2,
		Precision: 0.05, MinAchieved: 0.5, MaxErrorRate: 0.01}}
	return f
}

// capacityDoc is what a test reads of the -json of a search.
type capacityDoc struct {
	RunID   string `json:"run_id"`
	Workers []struct {
		Node string `json:"node"`
	} `json:"workers"`
	Start *struct {
		At          *int64 `json:"at_ns"`
		Coordinator string `json:"coordinator"`
	} `json:"start"`
	Capacity *struct {
		MaxRate *float64 `json:"max_rate"`
		Steps   []struct {
			RunID          string   `json:"run_id"`
			Rate           float64  `json:"rate"`
			OfferedPerS    *float64 `json:"offered_per_s"`
			ThroughputPerS *float64 `json:"throughput_per_s"`
			Latency        *struct {
				P99 *int64 `json:"p99"`
			} `json:"latency_ns"`
			Pass *bool `json:"pass"`
		} `json:"steps"`
	} `json:"capacity"`
	StepStarts []struct {
		RunID       string `json:"run_id"`
		Nodes       int    `json:"nodes"`
		Coordinator string `json:"coordinator"`
		At          *int64 `json:"at_ns"`
		Skew        *int64 `json:"skew_ns"`
	} `json:"step_starts"`
}

// runCapacity runs the search of f as the command would (it exits 0 when
// orchestrate returns no error) and checks what every search holds: every
// step is a run of its own, its merged result has every node, it was
// started through the coordinator, and the JSON has the capacity's fields.
func runCapacity(t *testing.T, f flags, coordinator string) capacityDoc {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	_, err := orchestrate(ctx, &out, f)
	require.NoError(t, err, "%s", &out)
	t.Log("\n" + out.String())
	assert.Contains(t, out.String(), "offered/s")
	assert.Contains(t, out.String(), "capacity: ")
	assert.Contains(t, out.String(), "start skew")

	b, err := os.ReadFile(f.jsonPath)
	require.NoError(t, err)
	var doc capacityDoc
	require.NoError(t, json.Unmarshal(b, &doc))
	require.NotNil(t, doc.Capacity, "capacity")
	require.NotNil(t, doc.Capacity.MaxRate, "capacity.max_rate")
	steps := doc.Capacity.Steps
	require.NotEmpty(t, steps)
	assert.LessOrEqual(t, len(steps), f.capacity.search.MaxSteps)
	require.Len(t, doc.StepStarts, len(steps), "one start per step")
	for i, s := range steps {
		want := f.run + ".step-" + strconv.Itoa(i+1)
		assert.Equal(t, want, s.RunID, "step %d", i+1)
		require.NotNil(t, s.OfferedPerS, "step %d offered_per_s", i+1)
		require.NotNil(t, s.ThroughputPerS, "step %d throughput_per_s", i+1)
		require.NotNil(t, s.Latency, "step %d latency_ns", i+1)
		require.NotNil(t, s.Latency.P99, "step %d latency_ns.p99", i+1)
		require.NotNil(t, s.Pass, "step %d pass", i+1)
		// The offered rate is the schedule's: the nodes' shares add up to
		// the step's rate (the window is the longest node's, a little
		// more than -duration, so a little less).
		assert.InDelta(t, s.Rate, *s.OfferedPerS, 0.1*s.Rate, "step %d offered its rate over the fleet", i+1)

		st := doc.StepStarts[i]
		assert.Equal(t, want, st.RunID)
		assert.Equal(t, f.workers, st.Nodes, "step %d merged every node", i+1)
		assert.Equal(t, coordinator, st.Coordinator, "step %d started through the coordinator", i+1)
		assert.NotNil(t, st.At, "step %d start instant", i+1)
		assert.NotNil(t, st.Skew, "step %d start skew", i+1)
	}
	assert.Equal(t, steps[len(steps)-1].RunID, doc.RunID, "the last step's merged result")
	assert.Len(t, doc.Workers, f.workers)
	require.NotNil(t, doc.Start)
	assert.NotNil(t, doc.Start.At)
	assert.Equal(t, coordinator, doc.Start.Coordinator)
	return doc
}

func TestCapacitySQLite(t *testing.T) {
	f := capacityTestFlags(t, "")
	f.capacity.htmlPath = filepath.Join(t.TempDir(), "capacity.html")
	runCapacity(t, f, "sql")
	page, err := os.ReadFile(f.capacity.htmlPath)
	require.NoError(t, err)
	assert.Contains(t, string(page), "Achieved against offered throughput")
}

func TestCapacityNATS(t *testing.T) {
	f := capacityTestFlags(t, "")
	f.coord = "nats"
	runCapacity(t, f, "nats")
}

func TestCapacityLocal(t *testing.T) {
	f := capacityTestFlags(t, "")
	f.coord = "local"
	runCapacity(t, f, "local")
}

// TestCapacityPostgres searches the capacity of a query of known service
// time, pg_sleep(10ms), on 2 nodes of 2 connections: at most 4 / 10ms =
// 400 operations can complete per second, and a window of d seconds holds
// at most one more per connection (begun before it, done inside), so no
// step may report more than 400 + 4/d, whatever the machine's speed.
func TestCapacityPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	f := capacityTestFlags(t, dsn)
	f.workers, f.conns = 2, 2
	f.query = "SELECT pg_sleep(0.01)"
	f.capacity.search.Start, f.capacity.slo, f.capacity.search.MinAchieved = 200, cli.List{"p99<1s"}, 0.9
	doc := runCapacity(t, f, "pgnotify")
	const conns, service = 2 * 2, 0.010
	most := conns/service + conns/f.duration.Seconds()
	for i, s := range doc.Capacity.Steps {
		assert.LessOrEqual(t, *s.ThroughputPerS, most, "step %d at %v/s", i+1, s.Rate)
		if s.Rate >= 2*conns/service {
			assert.False(t, *s.Pass, "step %d: twice what the connections can serve cannot pass", i+1)
		}
	}
}

// TestRateSplitsOverTheNodes: -rate on a single run is the fleet's: each
// node offers its share, and the merged result's offered rate adds up to
// it.
func TestRateSplitsOverTheNodes(t *testing.T) {
	f := testFlags(t, "")
	f.rate, f.duration = 90, time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	m, err := orchestrate(ctx, &out, f)
	require.NoError(t, err, "%s", &out)
	require.Len(t, m.Workers, f.workers)
	sc := m.Phases.Measure.Schedule
	require.NotNil(t, sc, "an arrival-rate run")
	assert.InDelta(t, 90, sc.OfferedPerS, 9)
	for _, w := range m.Workers {
		require.NotNil(t, w.Phases, w.Node)
		require.NotNil(t, w.Phases.Measure.Schedule, w.Node)
		assert.InDelta(t, 30, w.Phases.Measure.Schedule.OfferedPerS, 3, "%s offered its share", w.Node)
	}
}

func TestBadCapacityFlags(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*flags)
		want string
	}{
		{func(f *flags) { f.rate = -1 }, "-rate"},
		{func(f *flags) { f.capacity.on = false }, "-slo: only with -capacity"},
		{func(f *flags) { f.live = "127.0.0.1:0" }, "-capacity: not with -live"},
		{func(f *flags) { f.thresholds = cli.List{"p99<1s"} }, "-capacity: give the conditions with -slo"},
		{func(f *flags) { f.capacity.slo = cli.List{"p98<1s"} }, "SLO[0]"},
		{func(f *flags) { f.capacity.search.Factor = 1 }, "Factor"},
		{func(f *flags) { f.capacity.on, f.capacity.slo = false, nil; f.capacity.htmlPath = "x.html" }, "-html: only with -capacity"},
	} {
		f := capacityTestFlags(t, "")
		tc.mod(&f)
		_, err := orchestrate(context.Background(), &bytes.Buffer{}, f)
		require.Error(t, err)
		assert.True(t, strings.Contains(err.Error(), tc.want), "%v, want %q", err, tc.want)
	}
}

// TestReadSteps: a node reads its steps one a line, until "end" or the end
// of its input; a line that does not parse ends them with an error.
func TestReadSteps(t *testing.T) {
	var got []nodeStep
	for st := range readSteps(strings.NewReader(nodeStep{run: "r.step-1", rate: 12.5}.line() + "step r.step-2 25\nend\nstep r.step-3 50\n")) {
		got = append(got, st)
	}
	require.Len(t, got, 2)
	assert.Equal(t, "r.step-1", got[0].run)
	assert.Equal(t, 12.5, got[0].rate)
	assert.Equal(t, "r.step-2", got[1].run)
	assert.Equal(t, 25.0, got[1].rate)

	for _, bad := range []string{"step r.step-1\n", "step r.step-1 -3\n", "go r 1\n"} {
		got = nil
		for st := range readSteps(strings.NewReader(bad + "step r.step-2 25\n")) {
			got = append(got, st)
		}
		require.Len(t, got, 1, "%q", bad)
		assert.ErrorContains(t, got[0].err, "-serve-steps", "%q", bad)
	}
}
