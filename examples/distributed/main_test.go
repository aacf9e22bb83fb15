package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest/sqlsink"
)

// TestMain runs the worker role when the orchestrator under test
// re-executes the test binary as a node.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-role" && os.Args[2] == "worker" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// testFlags are a short run of 3 nodes, on tables of its own (dropped at
// the end of the test).
func testFlags(t *testing.T, dsn string) flags {
	return flags{
		workers: 3, conns: 2, dsn: dsn, onLost: "abort", jsonPath: filepath.Join(t.TempDir(), "result.json"),
		run: "dist-test-" + time.Now().UTC().Format("150405.000000"), prefix: testPrefix(t, dsn),
		rows: 1000, warmup: 50 * time.Millisecond, duration: 200 * time.Millisecond, quiet: true,
	}
}

// testPrefix is a table prefix no other test uses; its coordination and
// results tables are dropped when t ends.
func testPrefix(t *testing.T, dsn string) string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	prefix := "sl_dist_" + hex.EncodeToString(r[:]) + "_"
	t.Cleanup(func() {
		dbi, err := pick(dsn, t.TempDir())
		if err != nil || dsn == "" {
			return
		}
		db, err := sql.Open(dbi.driver, dbi.dsn)
		if err != nil {
			return
		}
		defer db.Close()
		ctx := context.Background()
		_ = sqlcoord.Tables{DB: db, Dialect: dbi.d, Prefix: prefix}.Drop(ctx)
		_ = sqlsink.DropTables(ctx, db, dbi.d, prefix)
	})
	return prefix
}

// runContract runs the orchestrator as the command would and checks the
// merged JSON the contract names.
func runContract(t *testing.T, f flags, coordinator string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	_, err := orchestrate(ctx, &out, f)
	require.NoError(t, err, "%s", &out)
	assert.Contains(t, out.String(), "coordinator "+coordinator)

	b, err := os.ReadFile(f.jsonPath)
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
			Coordinator string `json:"coordinator"`
		} `json:"start"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	assert.Equal(t, f.run, doc.RunID)
	require.Len(t, doc.Workers, f.workers)
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
	assert.Equal(t, coordinator, doc.Start.Coordinator, "start.coordinator names the backend")
	assert.Greater(t, *doc.Start.At, *doc.Start.Published, "T lies a lead after its publication")
	g := doc.Start.Gap
	assert.LessOrEqual(t, *g.Min, *g.P50)
	assert.LessOrEqual(t, *g.P50, *g.Max)
	assert.Equal(t, *g.Max-*g.Min, *doc.Start.Skew)
	if !f.reference {
		// No worker starts before T, within the clock offsets' error and
		// the slew of a process's wall clock against its monotonic clock
		// while it runs (NTP slews up to 500 ppm: a fraction of a
		// millisecond over a run), which the merged axis, placing each
		// process's marks by its wall-clock anchor, carries.
		const slew = time.Millisecond
		assert.GreaterOrEqual(t, *g.Min, -doc.ClockError-int64(slew))
	}
}

func TestDistributedSQLite(t *testing.T) { runContract(t, testFlags(t, ""), "sql") }

func TestDistributedLocal(t *testing.T) {
	f := testFlags(t, "")
	f.coord = "local"
	runContract(t, f, "local")
}

func TestDistributedPostgres(t *testing.T) {
	runContract(t, testFlags(t, testenv.Postgres(t)), "pgnotify")
}

func TestDistributedPostgresSQL(t *testing.T) {
	f := testFlags(t, testenv.Postgres(t))
	f.coord = "sql"
	runContract(t, f, "sql")
}

func TestDistributedPostgresReference(t *testing.T) {
	f := testFlags(t, testenv.Postgres(t))
	f.reference = true
	runContract(t, f, "sql")
}

func TestDistributedMariaDB(t *testing.T) { runContract(t, testFlags(t, testenv.MySQL(t)), "sql") }

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

func TestBadFlags(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		mod  func(*flags)
		want string
	}{
		{func(f *flags) { f.coord = "redis" }, `-coord "redis"`},
		{func(f *flags) { f.coord = "pgnotify" }, "-coord pgnotify: needs a PostgreSQL -dsn"},
		{func(f *flags) { f.onLost = "ignore" }, "-on-lost"},
		{func(f *flags) { f.workers = 0 }, "-workers"},
	} {
		f := testFlags(t, "")
		tc.mod(&f)
		_, err := orchestrate(ctx, &bytes.Buffer{}, f)
		require.ErrorContains(t, err, tc.want)
	}
}

// TestCompare runs both orders one after the other, as -compare does, and
// checks that the table shows both and that the reference order's gap is
// the one its one-second polling and post-signal writes cause.
func TestCompare(t *testing.T) {
	dsn := testenv.Postgres(t)
	out := filepath.Join(t.TempDir(), "result.json")
	f := flags{
		workers: 2, conns: 1, dsn: dsn, onLost: "abort", jsonPath: out, prefix: testPrefix(t, dsn),
		rows: 500, warmup: 0, duration: 100 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	require.NoError(t, compare(ctx, &buf, f))
	table := buf.String()
	assert.Regexp(t, `(?m)^fast\s+pgnotify\s`, table)
	assert.Regexp(t, `(?m)^reference\s+sql\s`, table)
	assert.FileExists(t, out)
	assert.FileExists(t, filepath.Join(filepath.Dir(out), "result.reference.json"))
}

// killNode kills the node process of run named node (Linux: found in /proc).
func killNode(t *testing.T, run, node string) {
	t.Helper()
	want := "\x00-run\x00" + run + "\x00"
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), want) || !strings.Contains(string(cmdline), "\x00-node\x00"+node+"\x00") {
			continue
		}
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		return
	}
	t.Fatalf("no process of node %s of run %s", node, run)
}

// lost runs 3 nodes on an SQLite file with a long lead, kills one once the
// start is published, and returns the orchestrator's output and error.
func lost(t *testing.T, policy string, lead time.Duration) (string, error) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the node process in /proc")
	}
	path := filepath.Join(t.TempDir(), "lost.db")
	f := testFlags(t, "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	f.onLost, f.lead = policy, lead
	db, err := sql.Open("sqlite3", f.dsn)
	require.NoError(t, err)
	defer db.Close()
	done := orchestrateAsync(f)
	for end := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		var status string
		_ = db.QueryRow("SELECT status FROM "+f.prefix+"runs WHERE run_id = ?", f.run).Scan(&status)
		if status == "STARTED" {
			break
		}
		require.False(t, time.Now().After(end), "the start was not published")
	}
	killNode(t, f.run, "w01")
	o := <-done
	return o.out, o.err
}

// TestLostBeforeTAborts: a node killed after T is published, long before
// T: the start is withdrawn, no node runs its warmup, and the orchestrator
// prints one line per node with the reason, and no teardown noise.
func TestLostBeforeTAborts(t *testing.T) {
	out, err := lost(t, "abort", time.Minute)
	require.ErrorContains(t, err, "run aborted: nodes lost: [w01]")
	lines := regexp.MustCompile(`(?m)^  w0\d: .*$`).FindAllString(out, -1)
	require.Len(t, lines, 3, "one line per node:\n%s", out)
	assert.Regexp(t, `^  w00: failed: .*run aborted before start \(coord.wait: node "w00"\): .*nodes lost: \[w01\]`, lines[0])
	assert.Regexp(t, `^  w01: lost: declared lost, last beat \S+ ago; then: signal: killed$`, lines[1])
	assert.Regexp(t, `^  w02: failed: .*run aborted before start \(coord.wait: node "w02"\): .*nodes lost: \[w01\]`, lines[2])
	assert.NotContains(t, out, "close session")
	assert.NotContains(t, out, "teardown")
	assert.Regexp(t, `measure: 0 ops`, out, "no node ran into its warmup or measure")
}

// TestLostBeforeTContinues: under -on-lost continue the others start at T
// and measure, and the lost node is named.
func TestLostBeforeTContinues(t *testing.T) {
	out, err := lost(t, "continue", 5*time.Second)
	require.ErrorContains(t, err, "nodes lost: [w01]; the others went on")
	assert.Regexp(t, `(?m)^run \S+: 2 nodes`, out)
	assert.Regexp(t, `(?m)^  w01: lost`, out)
	assert.Regexp(t, `(?m)^  w00: done$`, out)
	assert.NotRegexp(t, `measure: 0 ops`, out)
}

// outcome is how an orchestration run in the background ended, and what
// it printed.
type outcome struct {
	out string
	err error
}

// orchestrateAsync runs the orchestrator with f in the background, bounded
// by two minutes, so that a test can act on the run meanwhile (kill a
// node, read the coordinator).
func orchestrateAsync(f flags) <-chan outcome {
	done := make(chan outcome, 1)
	go func() {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, err := orchestrate(ctx, &out, f)
		done <- outcome{out.String(), err}
	}()
	return done
}
