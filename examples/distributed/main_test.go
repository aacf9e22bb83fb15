package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/internal/testenv"
)

// TestMain runs the worker role when the orchestrator under test
// re-executes the test binary as a worker.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-role" && os.Args[2] == "worker" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// runContract runs the orchestrator as the command would and checks the
// merged JSON the contract names.
func runContract(t *testing.T, dsn string, reference bool) {
	out := filepath.Join(t.TempDir(), "result.json")
	f := flags{
		workers: 3, conns: 2, dsn: dsn, reference: reference, jsonPath: out,
		run: "dist-test-" + time.Now().UTC().Format("150405.000000"), prefix: "sl_dist_test_",
		rows: 1000, warmup: 50 * time.Millisecond, duration: 200 * time.Millisecond, quiet: true,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := orchestrate(ctx, f)
	require.NoError(t, err)

	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var doc struct {
		RunID      string            `json:"run_id"`
		ClockError int64             `json:"clock_error_ns"`
		Timeline   []json.RawMessage `json:"timeline"`
		Phases     struct {
			Measure struct {
				Ops int64 `json:"ops"`
			} `json:"measure"`
		} `json:"phases"`
		Workers []struct {
			Node        string            `json:"node"`
			Timeline    []json.RawMessage `json:"timeline"`
			ClockOffset *int64            `json:"clock_offset_ns"`
		} `json:"workers"`
		Start *struct {
			Published *int64 `json:"published_ns"`
			At        *int64 `json:"at_ns"`
			Skew      *int64 `json:"skew_ns"`
			Gap       *struct {
				Min, P50, Max *int64
			} `json:"signal_to_first_query_ns"`
		} `json:"start"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	assert.Equal(t, f.run, doc.RunID)
	require.Len(t, doc.Workers, 3)
	for _, w := range doc.Workers {
		assert.NotEmpty(t, w.Timeline, w.Node)
		assert.NotNil(t, w.ClockOffset, w.Node)
	}
	assert.NotEmpty(t, doc.Timeline)
	assert.Positive(t, doc.Phases.Measure.Ops)
	require.NotNil(t, doc.Start)
	require.NotNil(t, doc.Start.Published)
	require.NotNil(t, doc.Start.At)
	require.NotNil(t, doc.Start.Skew)
	require.NotNil(t, doc.Start.Gap)
	assert.Greater(t, *doc.Start.At, *doc.Start.Published, "T lies a lead after its publication")
	g := doc.Start.Gap
	assert.LessOrEqual(t, *g.Min, *g.P50)
	assert.LessOrEqual(t, *g.P50, *g.Max)
	assert.Equal(t, *g.Max-*g.Min, *doc.Start.Skew)
	if !reference {
		// No worker starts before T, within the clock offsets' error.
		assert.GreaterOrEqual(t, *g.Min, -doc.ClockError)
	}
}

func TestDistributedSQLite(t *testing.T) { runContract(t, "", false) }

func TestDistributedPostgres(t *testing.T) { runContract(t, testenv.Postgres(t), false) }

func TestDistributedPostgresReference(t *testing.T) { runContract(t, testenv.Postgres(t), true) }

func TestPickDSN(t *testing.T) {
	for dsn, want := range map[string]string{
		"":                              "sqlite",
		"postgres://u@h/db":             "postgres",
		"file:/tmp/x.db":                "sqlite",
		"root@tcp(127.0.0.1:3306)/test": "mysql",
	} {
		db, err := pick(dsn, t.TempDir())
		require.NoError(t, err)
		assert.Equal(t, want, db.d.Name(), dsn)
	}
	_, err := pick("s3cret-garbage", "")
	require.ErrorContains(t, err, "-dsn")
	assert.NotContains(t, err.Error(), "s3cret")
}

// TestCompare runs both orders one after the other, as -compare does, and
// checks that the table shows both and that the reference order's gap is
// the one its one-second polling and post-signal writes cause.
func TestCompare(t *testing.T) {
	dsn := testenv.Postgres(t)
	out := filepath.Join(t.TempDir(), "result.json")
	f := flags{
		workers: 2, conns: 1, dsn: dsn, jsonPath: out, prefix: "sl_dist_cmp_",
		rows: 500, warmup: 0, duration: 100 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	require.NoError(t, compare(ctx, &buf, f))
	table := buf.String()
	assert.Regexp(t, `(?m)^fast\s`, table)
	assert.Regexp(t, `(?m)^reference\s`, table)
	assert.FileExists(t, out)
	assert.FileExists(t, filepath.Join(filepath.Dir(out), "result.reference.json"))
}
