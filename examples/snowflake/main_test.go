package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/timing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSnowflakeExample runs the contract command, shortened, against the
// local server: the warm-up of every session is on the timeline, one
// pool.conn mark per login, and the warehouse is resumed in its own span
// before the barrier.
func TestSnowflakeExample(t *testing.T) {
	t.Setenv("SNOWFLAKE_DSN", "")
	t.Setenv("SNOWFLAKE_ACCOUNT", "")
	out := filepath.Join(t.TempDir(), "result.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{
		"-sessions", "12", "-login-latency", "20ms", "-query-latency", "1ms", "-rows", "500",
		"-warmup", "100ms", "-duration", "300ms", "-json", out,
	}, &stdout, &stderr)
	require.NoError(t, err, "stderr: %s", stderr.String())
	assert.Contains(t, stdout.String(), "logins: 12")

	res, err := loadtest.ReadResultFile(out)
	require.NoError(t, err)
	init := res.Timeline.Find(timing.PoolInit)
	require.Len(t, init, 1)
	conns := res.Timeline.Find(timing.PoolConn)
	require.Len(t, conns, 12, "one mark per login")
	// Each new session pays the server's login latency; the one the example
	// opened before the run to create its tables is reused, idle.
	fresh := 0
	for _, c := range conns {
		if c.Duration() >= 20*time.Millisecond {
			fresh++
		}
	}
	assert.GreaterOrEqual(t, fresh, 11)
	resume := res.Timeline.Find(snowflake.PhaseWarehouseResume)
	require.Len(t, resume, 1)
	assert.GreaterOrEqual(t, resume[0].Start, init[0].End)
	start := res.Timeline.Find(timing.CoordStart)
	require.Len(t, start, 1)
	assert.LessOrEqual(t, resume[0].End, start[0].Start, "the warehouse is resumed before the start signal")
	assert.Equal(t, "STARTLINE_WH", res.Pool["warehouse"])
	assert.Equal(t, "false", res.Pool["use_cached_result"])
	assert.Greater(t, res.Phases.Measure.Ops, int64(0))
	assert.Zero(t, res.Phases.Measure.Errors, "%v", res.Phases.Measure.ErrorSamples)
}
