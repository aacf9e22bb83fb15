package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// capacityFile is the part of the JSON file that the contract names.
type capacityFile struct {
	Capacity struct {
		MaxRate float64 `json:"max_rate"`
		Steps   []struct {
			OfferedPerS    float64            `json:"offered_per_s"`
			ThroughputPerS float64            `json:"throughput_per_s"`
			Latency        map[string]float64 `json:"latency_ns"`
			Pass           *bool              `json:"pass"`
		} `json:"steps"`
	} `json:"capacity"`
}

func search(t *testing.T, args ...string) (capacityFile, string) {
	t.Helper()
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "capacity.json"), filepath.Join(dir, "capacity.html")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append(args, "-json", jsonPath, "-html", htmlPath), &stdout, &stderr)
	require.NoError(t, err, "stderr: %s", stderr.String())
	b, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var f capacityFile
	require.NoError(t, json.Unmarshal(b, &f))
	require.NotEmpty(t, f.Capacity.Steps)
	for _, s := range f.Capacity.Steps {
		require.NotNil(t, s.Pass)
		assert.Contains(t, s.Latency, "p99")
	}
	page, err := os.ReadFile(htmlPath)
	require.NoError(t, err)
	assert.Contains(t, string(page), "Achieved against offered throughput")
	assert.Contains(t, stderr.String(), "step 1 (coarse)")
	return f, stdout.String()
}

// TestCapacitySQLite runs a short search on the embedded database.
func TestCapacitySQLite(t *testing.T) {
	f, out := search(t, "-workers", "2", "-steps", "3", "-warmup", "100ms", "-duration", "400ms", "-start", "50", "-slo", "p99<1s")
	assert.Len(t, f.Capacity.Steps, 3)
	assert.Contains(t, out, "offered/s")
	assert.Contains(t, out, "capacity: ")
}

// TestCapacityPostgres searches the capacity of pg_sleep(0.005) on 2
// connections: at most 2/0.005 = 400 operations per second can complete,
// so no step reports more and no rate above 400/0.99 can pass; on a
// machine that is not starved the search lands near 400 (PERFORMANCE.md).
func TestCapacityPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	const most = 2 / 0.005
	f, out := search(t, "-dsn", dsn, "-query", "SELECT pg_sleep(0.005)", "-workers", "2", "-slo", "p99<100ms",
		"-steps", "7", "-warmup", "300ms", "-duration", "1s", "-start", "100")
	t.Log("\n" + out)
	for _, s := range f.Capacity.Steps {
		assert.LessOrEqual(t, s.ThroughputPerS, most*1.001, "no step completes more than the connections can: %+v", s)
		if *s.Pass {
			assert.LessOrEqual(t, s.OfferedPerS, most/0.99+1)
		}
	}
	assert.LessOrEqual(t, f.Capacity.MaxRate, most/0.99)
	// Whether a quarter of the capacity passes is the machine's business
	// (a loaded one stalls past the SLO); what follows from a pass is the
	// search's: the capacity found is at least that rate.
	if first := f.Capacity.Steps[0]; *first.Pass {
		assert.GreaterOrEqual(t, f.Capacity.MaxRate, first.OfferedPerS)
	} else {
		t.Logf("the first step, a quarter of the capacity, failed: a loaded machine")
	}
	assert.True(t, strings.Contains(out, "capacity: "))
}
