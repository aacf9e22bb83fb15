package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/natscoord"
	"github.com/startline/startline/coordinate/natscoord/natsembed"
	"github.com/startline/startline/internal/testenv"
)

// TestDistributedNATS: -coord nats without -nats starts a server in the
// orchestrator's process and hands it to the node processes; the merged
// result names the coordinator "nats". The workload runs on SQLite.
func TestDistributedNATS(t *testing.T) {
	f := testFlags(t, "")
	f.coord = "nats"
	runContract(t, f, "nats")
}

// TestDistributedPostgresNATS is the contract's command: -coord nats with
// a PostgreSQL -dsn.
func TestDistributedPostgresNATS(t *testing.T) {
	f := testFlags(t, testenv.Postgres(t))
	f.coord = "nats"
	runContract(t, f, "nats")
}

// TestNATSFlagNeedsCoordNATS: -nats with another coordinator is refused
// by name, before anything runs.
func TestNATSFlagNeedsCoordNATS(t *testing.T) {
	f := testFlags(t, "")
	f.coord, f.nats = "sql", "nats://127.0.0.1:4222"
	_, err := orchestrate(context.Background(), new(bytes.Buffer), f)
	require.ErrorContains(t, err, "-nats: only with -coord nats")
}

// TestNATSLeadAddsNoStatements: with -coord nats the database under test
// sees no coordination statement, so a longer -lead (nodes waiting longer)
// adds none. It counts the transactions committed in a database of its
// own (pg_stat_database.xact_commit; every statement of the example is a
// transaction of its own), less the workload's operations, around runs
// with a short and a long lead. The same with -coord sql, whose nodes poll
// the database while they wait, shows that the count sees them.
func TestNATSLeadAddsNoStatements(t *testing.T) {
	dsn := ownDatabase(t, testenv.Postgres(t))
	const long = 2 * time.Second
	for _, c := range []struct {
		coord string
		added func(extra float64) bool
		want  string
	}{
		{"nats", func(extra float64) bool { return extra <= 10 }, "at most 10 (stats and pool noise)"},
		{"sql", func(extra float64) bool { return extra >= 100 }, "at least 100: the nodes poll while they wait"},
	} {
		t.Run(c.coord, func(t *testing.T) {
			f := testFlags(t, dsn)
			f.coord = c.coord
			run(t, f, dsn) // seeds the table, which the runs measured then only read
			f.lead = 100 * time.Millisecond
			short := run(t, f, dsn)
			f.lead = long
			longer := run(t, f, dsn)
			extra := float64(longer - short)
			t.Logf("-coord %s: %d statements besides the workload with a lead of 100ms, %d with %s", c.coord, short, longer, long)
			assert.True(t, c.added(extra), "-coord %s: a lead %s longer added %.0f statements; want %s", c.coord, long-100*time.Millisecond, extra, c.want)
		})
	}
}

// run runs the example once with f and returns how many transactions the
// database committed meanwhile besides the workload's operations.
func run(t *testing.T, f flags, dsn string) int64 {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	before := commits(t, db)
	f.run = "dist-test-" + time.Now().UTC().Format("150405.000000")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	m, err := orchestrate(ctx, &out, f)
	require.NoError(t, err, "%s", &out)
	after := commits(t, db)
	return after - before - m.Phases.Warmup.Ops - m.Phases.Measure.Ops
}

// commits returns the database's committed transactions once the
// server's counters have settled: a backend flushes them about once a
// second, and at its exit. Settled is two reads a flush apart that differ
// by no more than this loop's own statements.
func commits(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	read := func() int64 {
		var n int64
		require.NoError(t, db.QueryRow(`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n))
		return n
	}
	last := read()
	for range 20 {
		time.Sleep(1200 * time.Millisecond)
		n := read()
		if n-last <= 2 {
			return n
		}
		last = n
	}
	t.Fatal("the database's commit count did not settle")
	return 0
}

// ownDatabase creates a database for the test, dropped at its end, and
// returns dsn pointed at it: a count of its commits then sees this test's
// statements only.
func ownDatabase(t *testing.T, dsn string) string {
	t.Helper()
	var r [4]byte
	_, _ = rand.Read(r[:])
	name := "startline_stmts_" + hex.EncodeToString(r[:])
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	_, err = admin.Exec("CREATE DATABASE " + name)
	require.NoError(t, err)
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("dropping %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// TestLostBeforeTAbortsNATS is TestLostBeforeTAborts with -coord nats: a
// node killed after T is published, long before T, withdraws the start;
// no node runs its warmup, and the orchestrator prints one line per node
// with the reason, and no teardown noise.
func TestLostBeforeTAbortsNATS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the node process in /proc")
	}
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	require.NoError(t, err)
	defer srv.Stop()
	f := testFlags(t, "")
	f.coord, f.nats, f.onLost, f.lead = "nats", srv.ClientURL(), "abort", time.Minute
	watch, err := natscoord.New(natscoord.Options{URL: f.nats, RunID: f.run})
	require.NoError(t, err)
	defer watch.Close()
	done := orchestrateAsync(f)
	for end := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		r, err := watch.Run(context.Background())
		if err == nil && r.Status == coordinate.RunStarted {
			break
		}
		require.False(t, time.Now().After(end), "the start was not published")
	}
	killNode(t, f.run, "w01")
	o := <-done
	require.ErrorContains(t, o.err, "run aborted: nodes lost: [w01]")
	lines := regexp.MustCompile(`(?m)^  w0\d: .*$`).FindAllString(o.out, -1)
	require.Len(t, lines, 3, "one line per node:\n%s", o.out)
	assert.Regexp(t, `^  w00: failed: .*run aborted before start \(coord.wait: node "w00"\): .*nodes lost: \[w01\]`, lines[0])
	assert.Regexp(t, `^  w01: lost: declared lost, last beat \S+ ago; then: signal: killed$`, lines[1])
	assert.Regexp(t, `^  w02: failed: .*run aborted before start \(coord.wait: node "w02"\): .*nodes lost: \[w01\]`, lines[2])
	assert.NotContains(t, o.out, "teardown")
	assert.Regexp(t, `measure: 0 ops`, o.out, "no node ran into its warmup or measure")
}

// TestDistributedExternalNATS runs the contract against the external
// server (nats-server 2.9 here), and checks that the orchestrator leaves
// it as it found it: the run's storage is gone once the results are
// merged.
func TestDistributedExternalNATS(t *testing.T) {
	f := testFlags(t, "")
	f.coord, f.nats = "nats", testenv.NATS(t)
	runContract(t, f, "nats")
	b, err := natscoord.New(natscoord.Options{URL: f.nats, RunID: f.run})
	require.NoError(t, err)
	defer b.Close()
	_, err = b.Run(context.Background())
	require.ErrorIs(t, err, coordinate.ErrNoRun, "the run's storage outlived the run")
	res, err := natscoord.NewResults(b.Conn())
	require.NoError(t, err)
	got, err := res.Results(context.Background(), f.run, []string{"w00"})
	require.NoError(t, err)
	require.Empty(t, got, "the run's results outlived the run")
}
