package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/loadtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// balance is every account's abalance in the test schema, so that a test can
// tell that each query read exactly one row and decoded it right.
const balance = 7

// testDSN makes a schema of its own holding pgbench's two tables at scale 1
// (abalance = balance everywhere) and returns a DSN whose search_path finds
// them there, so that the tests never touch a real pgbench database.
func testDSN(t testing.TB) string {
	dsn := testenv.Postgres(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(context.Background()) })
	schema := "startline_pgbench_" + strconv.Itoa(os.Getpid())
	for _, q := range []string{
		"DROP SCHEMA IF EXISTS " + schema + " CASCADE",
		"CREATE SCHEMA " + schema,
		"CREATE TABLE " + schema + ".pgbench_branches (bid int PRIMARY KEY, bbalance int)",
		"INSERT INTO " + schema + ".pgbench_branches VALUES (1, 0)",
		"CREATE TABLE " + schema + ".pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84))",
		fmt.Sprintf("INSERT INTO %s.pgbench_accounts SELECT g, 1, %d, '' FROM generate_series(1, %d) g", schema, balance, accountsPerScale),
	} {
		_, err := admin.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema + "&application_name=" + schema
}

func TestParseFlagsRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"-c", "0"}, "-c"},
		{[]string{"-T", "-1"}, "-T"},
		{[]string{"-j", "0"}, "-j"},
		{[]string{"-s", "-2"}, "-s"},
		{[]string{"-s", "30000"}, "-s"},
		{[]string{"-warmup", "-1s"}, "-warmup"},
		{[]string{"-mode", "fast"}, "-mode"},
		{[]string{"-procs", "-1"}, "-procs"},
		{[]string{"-io", "uring"}, "-io"},
		{[]string{"extra"}, "extra"},
	} {
		_, err := parseFlags(tc.args)
		require.Error(t, err, "%v", tc.args)
		assert.Contains(t, err.Error(), tc.flag)
	}
	o, err := parseFlags([]string{"-c", "8", "-T", "15", "-j", "2"})
	require.NoError(t, err)
	assert.Equal(t, options{dsn: o.dsn, clients: 8, seconds: 15, threads: 2, mode: ModeRaw, io: ioBlocking, gcPercent: 400}, o)
}

// TestModesReadOneRowPerQuery runs the workload in every mode and checks
// that every successful operation read one abalance, decoded right.
func TestModesReadOneRowPerQuery(t *testing.T) {
	dsn := testDSN(t)
	type variant struct{ mode, io string }
	var variants []variant
	for _, m := range modes {
		variants = append(variants, variant{m, ioBlocking})
	}
	variants = append(variants, variant{ModeRaw, ioPoller})
	for _, v := range variants {
		mode := v.mode
		t.Run(mode+"/"+v.io, func(t *testing.T) {
			ctx := context.Background()
			p, err := openPool(ctx, dsn, 2, v.io)
			require.NoError(t, err)
			defer p.Close()
			cs := newClients(mode, 2, accountsPerScale)
			defer cs.close()
			r, err := loadtest.New(loadtest.Config{
				Pool: p, Workers: 2,
				Workload: loadtest.Workload{Operations: []loadtest.Operation{cs.op()}},
				Warmup:   50 * time.Millisecond, Duration: 200 * time.Millisecond,
			})
			require.NoError(t, err)
			res, err := r.Run(ctx)
			require.NoError(t, err)
			ok := res.Phases.Warmup.Ops - res.Phases.Warmup.Errors + res.Phases.Measure.Ops - res.Phases.Measure.Errors
			require.Positive(t, res.Phases.Measure.Ops)
			assert.Zero(t, res.Phases.Measure.Errors)
			var sum int64
			for _, c := range cs.slots {
				require.NotNil(t, c, "every worker made its client")
				sum += c.sum
			}
			assert.Equal(t, balance*ok, sum)
		})
	}
}

func TestRunPrintsTPSBeforeTheReport(t *testing.T) {
	dsn := testDSN(t)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-dsn", dsn, "-c", "2", "-T", "1"}, &out))
	text := out.String()
	tps := regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)$`).FindStringSubmatchIndex(text)
	require.NotNil(t, tps, text)
	v, err := strconv.ParseFloat(text[tps[2]:tps[3]], 64)
	require.NoError(t, err)
	assert.Positive(t, v)
	assert.Contains(t, text, "scaling factor: 1\n", "the scale is read from pgbench_branches")
	report := strings.Index(text, "\nrun ")
	require.Positive(t, report, text)
	assert.Less(t, tps[0], report, "the tps line comes before the startline report")
}

func TestRunFailsWithoutPgbenchTables(t *testing.T) {
	dsn := testenv.Postgres(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	err := run(context.Background(), []string{"-dsn", dsn + sep + "search_path=startline_no_such_schema", "-T", "1"}, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pgbench_branches")
}

// TestRawModeCancelsAQueryInFlight blocks a query behind a table lock and
// cancels the run: the raw mode passes context.Background to pgconn, so only
// its own watch of the run's context can end the blocked query, and without
// it Run would never return. With blocking I/O the watch's past deadline
// shuts the socket down.
func TestRawModeCancelsAQueryInFlight(t *testing.T) {
	dsn := testDSN(t)
	for _, io := range []string{ioPoller, ioBlocking} {
		t.Run(io, func(t *testing.T) { testRawModeCancels(t, dsn, io) })
	}
}

func testRawModeCancels(t *testing.T, dsn, io string) {
	ctx := context.Background()
	locker, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()

	p, err := openPool(ctx, dsn, 1, io)
	require.NoError(t, err)
	defer p.Close()
	cs := newClients(ModeRaw, 1, accountsPerScale)
	defer cs.close()
	// The worker prepares its statement before the table is locked (the
	// prepare would block too), then queries once the lock is held.
	prepared, locked := make(chan struct{}), make(chan struct{})
	op := cs.op()
	query := op.Run
	op.Run = func(ctx context.Context, w *loadtest.Worker) error {
		if cs.slots[w.ID()] == nil {
			if _, err := cs.get(ctx, w); err != nil {
				return err
			}
			close(prepared)
			<-locked
		}
		return query(ctx, w)
	}
	r, err := loadtest.New(loadtest.Config{
		Pool: p, Workers: 1,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{op}},
		Duration: time.Hour,
	})
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type outcome struct {
		res *loadtest.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := r.Run(runCtx)
		done <- outcome{res, err}
	}()

	<-prepared
	_, err = tx.Exec(ctx, "LOCK TABLE pgbench_accounts IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	close(locked)
	app := locker.Config().RuntimeParams["application_name"]
	require.Eventually(t, func() bool {
		var n int
		err := locker.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", app).Scan(&n)
		return err == nil && n == 1
	}, time.Minute, 5*time.Millisecond, "the worker's query never blocked on the lock")
	cancel()
	var o outcome
	select {
	case o = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its context was cancelled: the blocked query was not interrupted")
	}
	require.ErrorIs(t, o.err, context.Canceled)
	require.NotNil(t, o.res)
	// The interrupted query failed; any the worker began before it saw the
	// end fail at once on the closed connection.
	assert.Positive(t, o.res.Phases.Measure.Errors, "the interrupted query failed")
}
