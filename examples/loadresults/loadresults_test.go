package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

func TestLoadsFilesIdempotently(t *testing.T) {
	dir := t.TempDir()
	anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res := &loadtest.Result{RunID: "r", Node: "n", StartedAt: anchor, Timeline: timing.Timeline{Anchor: anchor, Marks: []timing.Mark{
		{Phase: timing.PoolInit, Worker: timing.Process, Start: 0, End: time.Millisecond},
		{Phase: timing.QueryFirst, Worker: 0, Start: 2 * time.Millisecond, End: 3 * time.Millisecond},
	}}}
	var b bytes.Buffer
	require.NoError(t, loadtest.JSONSink{W: &b}.Write(context.Background(), res))
	file := filepath.Join(dir, "r.json")
	require.NoError(t, os.WriteFile(file, b.Bytes(), 0o600))
	dsn := filepath.Join(dir, "results.db")

	var out bytes.Buffer
	args := []string{"-driver", "sqlite3", "-dsn", dsn, "-prefix", "lr_", file}
	require.NoError(t, run(context.Background(), args, &out))
	require.NoError(t, run(context.Background(), args, &out))
	assert.Contains(t, out.String(), "loaded "+file)

	db, err := sql.Open("sqlite3", dsn)
	require.NoError(t, err)
	defer db.Close()
	var marks, results int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM lr_timeline WHERE run_id = 'r'").Scan(&marks))
	require.NoError(t, db.QueryRow("SELECT count(*) FROM lr_test_results").Scan(&results))
	assert.Equal(t, 2, marks, "loaded twice, stored once")
	assert.Equal(t, 1, results)

	assert.Error(t, run(context.Background(), []string{"-driver", "nosuch", "-dsn", dsn, file}, &out))
	assert.Error(t, run(context.Background(), []string{"-dsn", dsn, "-prefix", "bad prefix", file}, &out))
	assert.Error(t, run(context.Background(), []string{"-dsn", dsn}, &out))
}
