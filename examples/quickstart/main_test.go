package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestQuickstart runs the README's first command, shortened, and checks
// what it promises: the waterfall, the measured latencies, and the JSON
// result with every phase.
func TestQuickstart(t *testing.T) {
	out := filepath.Join(t.TempDir(), "result.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{
		"-rows", "5000", "-workers", "4", "-warmup", "200ms", "-duration", "300ms",
		"-progress=false", "-threshold", "error_rate<0.001", "-json", out,
	}, &stdout, &stderr)
	require.NoError(t, err, "stderr: %s", stderr.String())
	for _, want := range []string{"seeded 5000 rows", "pool.init", "setup.profile", "coord.wait", "query.first",
		"start signal -> first query", "p99.9", "point_select", "threshold ok"} {
		assert.Contains(t, stdout.String(), want)
	}

	res, err := loadtest.ReadResultFile(out)
	require.NoError(t, err)
	for _, ph := range []timing.Phase{timing.PoolInit, timing.SetupProfile, timing.CoordRegister, timing.HeartbeatRunning,
		timing.ScaleWarmup, timing.CoordWait, timing.CoordStart, timing.QueryFirst, timing.Warmup, timing.Measure, timing.Teardown} {
		assert.NotEmpty(t, res.Timeline.Find(ph), "phase %s on the timeline", ph)
	}
	assert.Greater(t, res.Phases.Measure.Ops, int64(0))
	assert.Zero(t, res.Phases.Measure.Errors)
	assert.Len(t, res.Operations, 3)
}

func TestQuickstartFailsAThreshold(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{
		"-rows", "1000", "-workers", "2", "-warmup", "0s", "-duration", "200ms",
		"-progress=false", "-threshold", "p50<1ns",
	}, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 of 1 thresholds failed")
	assert.Contains(t, stdout.String(), "threshold FAIL p50<1ns")
}

func TestQuickstartRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-rate", "0"},
		{"-threshold", "p42<1ms"},
		{"-workers", "0"},
		{"-warmup", "soon"},
		{"-drain-warmup"}, // without -rate
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"-rows", "10", "-progress=false"}, args...), &stdout, &stderr)
		assert.Error(t, err, "%v", args)
	}
}

// TestQuickstartArrivalRate runs an arrival-rate test with -drain-warmup:
// the report says what was offered against what was achieved, the pacer's
// lag apart from the queueing, and the JSON holds the schedule's counts.
func TestQuickstartArrivalRate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "result.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{
		"-rows", "2000", "-workers", "2", "-rate", "200", "-warmup", "200ms", "-duration", "500ms", "-drain-warmup",
		"-progress=false", "-json", out,
	}, &stdout, &stderr)
	require.NoError(t, err, "stderr: %s", stderr.String())
	for _, want := range []string{"measure: offered 100 (200.0/s)", "pacer lag (scheduled -> released)", "warmup.drain"} {
		assert.Contains(t, stdout.String(), want)
	}
	res, err := loadtest.ReadResultFile(out)
	require.NoError(t, err)
	m := res.Phases.Measure
	require.NotNil(t, m.Schedule)
	assert.EqualValues(t, 100, m.Offered, "500ms at 200/s")
	assert.Equal(t, m.Offered, m.Ops+m.Dropped)
	assert.NotNil(t, m.SchedLag)
	assert.NotEmpty(t, res.Timeline.Find(timing.WarmupDrain))
}
