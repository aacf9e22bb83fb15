package snowflaketest_test

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/snowflakedb/gosnowflake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool/snowflake/snowflaketest"
)

// whServer starts a server with a small table "T", which makes a query
// need the warehouse (a query that reads no table does not). Its sessions
// log in with the result cache off, as startline's do, unless cache.
func whServer(t *testing.T, opts snowflaketest.Options, cache ...bool) (*snowflaketest.Server, *sql.DB) {
	t.Helper()
	s := snowflaketest.New(opts)
	t.Cleanup(s.Close)
	params := map[string]string{"USE_CACHED_RESULT": "FALSE"}
	if len(cache) > 0 && cache[0] {
		params = nil
	}
	db := openWith(t, s, params)
	_, err := s.DB().Exec(`CREATE TABLE "T" ("ID" INTEGER, "V" TEXT)`)
	require.NoError(t, err)
	_, err = s.DB().Exec(`INSERT INTO "T" VALUES (1, 'a'), (2, 'b'), (3, 'c')`)
	require.NoError(t, err)
	return s, db
}

// conns logs in n sessions, each pinned to its *sql.Conn.
func conns(t *testing.T, db *sql.DB, n int) []*sql.Conn {
	t.Helper()
	out := make([]*sql.Conn, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			c, err := db.Conn(context.Background())
			if err == nil {
				err = c.PingContext(context.Background())
			}
			out[i], errs[i] = c, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err)
		t.Cleanup(func() { _ = out[i].Close() })
	}
	return out
}

// query runs q on c with QUERY_TAG tag and reads its rows.
func query(c *sql.Conn, tag, q string, args ...any) error {
	rows, err := c.QueryContext(gosnowflake.WithQueryTag(context.Background(), tag), q, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	return rows.Close()
}

// eventually waits until cond holds; the bound is for correctness (a
// broken model never gets there), not speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// hrow is a row of the query history, the columns the tests read.
type hrow struct {
	ID                   string
	Tag                  string
	Status               string
	Warehouse            sql.NullString
	Size                 sql.NullString
	Cluster              sql.NullInt64
	ErrorCode            sql.NullString
	Start                time.Time
	End                  sql.NullTime
	Total, Compile       int64
	Exec, Prov, Overload int64
}

// history reads the rows of QUERY_HISTORY whose QUERY_TAG is tag, through
// the driver, as a user would.
func history(t *testing.T, db *sql.DB, tag string) []hrow {
	t.Helper()
	rows, err := db.Query(`SELECT QUERY_ID, QUERY_TAG, EXECUTION_STATUS, WAREHOUSE_NAME, WAREHOUSE_SIZE, CLUSTER_NUMBER, ERROR_CODE,
		START_TIME, END_TIME, TOTAL_ELAPSED_TIME, COMPILATION_TIME, EXECUTION_TIME, QUEUED_PROVISIONING_TIME, QUEUED_OVERLOAD_TIME
		FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(RESULT_LIMIT => 10000)) WHERE QUERY_TAG = ? ORDER BY START_TIME`, tag)
	require.NoError(t, err)
	defer rows.Close()
	var out []hrow
	for rows.Next() {
		var r hrow
		require.NoError(t, rows.Scan(&r.ID, &r.Tag, &r.Status, &r.Warehouse, &r.Size, &r.Cluster, &r.ErrorCode,
			&r.Start, &r.End, &r.Total, &r.Compile, &r.Exec, &r.Prov, &r.Overload))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// tagged returns the server's records of the statements tagged tag.
func tagged(s *snowflaketest.Server, tag string) []snowflaketest.Statement {
	var out []snowflaketest.Statement
	for _, st := range s.Statements() {
		if st.QueryTag == tag {
			out = append(out, st)
		}
	}
	return out
}

// granted is when a statement got its slot (and began to execute).
func granted(st snowflaketest.Statement) time.Time {
	return st.Start.Add(st.Compilation + st.QueuedProvisioning + st.QueuedOverload)
}

// maxOverlap is the largest number of statements executing at one time.
func maxOverlap(sts []snowflaketest.Statement) int {
	type ev struct {
		at    time.Time
		delta int
	}
	var evs []ev
	for _, st := range sts {
		evs = append(evs, ev{granted(st), 1}, ev{granted(st).Add(st.Execution), -1})
	}
	slices.SortFunc(evs, func(a, b ev) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an end before a start at the same instant
	})
	n, top := 0, 0
	for _, e := range evs {
		n += e.delta
		top = max(top, n)
	}
	return top
}

// TestWarehouseQueuesBeyondItsSlots runs 32 queries at once on a warehouse
// of 8 slots (MAX_CONCURRENCY_LEVEL's default): 8 hold their slots, the
// other 24 queue, and QUERY_HISTORY shows it.
func TestWarehouseQueuesBeyondItsSlots(t *testing.T) {
	s, db := whServer(t, snowflaketest.Options{})
	cs := conns(t, db, 32)
	var wg sync.WaitGroup
	errs := make([]error, 32)
	// 8 holders first, then 24 short queries while the holders run.
	for i := range 8 {
		wg.Go(func() { errs[i] = query(cs[i], "burst", `SELECT SYSTEM$WAIT(1500, 'MILLISECONDS'), "V" FROM "T"`) })
	}
	eventually(t, "8 statements hold the 8 slots", func() bool { return s.Warehouse(snowflaketest.DefaultWarehouse).Active == 8 })
	for i := 8; i < 32; i++ {
		wg.Go(func() { errs[i] = query(cs[i], "burst", `SELECT SYSTEM$WAIT(100, 'MILLISECONDS'), "V" FROM "T"`) })
	}
	eventually(t, "24 statements queue", func() bool { return s.Warehouse(snowflaketest.DefaultWarehouse).Queued == 24 })
	allQueued := time.Now()
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "query %d", i)
	}

	sts := tagged(s, "burst")
	require.Len(t, sts, 32)
	assert.LessOrEqual(t, maxOverlap(sts), 8, "never more than 8 statements execute at once")
	// The first holder's execution ended (and then its slot was handed
	// back) at firstEnd: its End is stamped later, once its result is
	// written, which a loaded machine can put milliseconds after a queued
	// statement got the slot.
	var firstEnd time.Time
	for _, st := range sts {
		if end := granted(st).Add(st.Execution); st.QueuedOverload == 0 && (firstEnd.IsZero() || end.Before(firstEnd)) {
			firstEnd = end
		}
	}
	queued := 0
	for _, st := range sts {
		if st.QueuedOverload > 0 {
			queued++
			// Queued while all slots were held: it waited at least until
			// the first holder ended.
			assert.GreaterOrEqual(t, st.QueuedOverload, firstEnd.Sub(allQueued))
			assert.GreaterOrEqual(t, granted(st), firstEnd.Add(-time.Millisecond))
		}
		assert.Equal(t, 1, st.Cluster)
	}
	assert.Equal(t, 24, queued)
	assert.Equal(t, 24, s.Counters().Queued)

	rows := history(t, db, "burst")
	require.Len(t, rows, 32)
	zero, positive := 0, 0
	for _, r := range rows {
		assert.Equal(t, "SUCCESS", r.Status)
		assert.Equal(t, "X-Small", r.Size.String)
		assert.Equal(t, int64(1), r.Cluster.Int64)
		assert.Zero(t, r.Prov, "the warehouse resumed at once (no resume latency)")
		assert.GreaterOrEqual(t, r.Exec, int64(100))
		assert.GreaterOrEqual(t, r.Total, r.Overload+r.Exec)
		if r.Overload == 0 {
			zero++
			assert.GreaterOrEqual(t, r.Exec, int64(1500), "the holders did not queue")
		} else {
			positive++
		}
	}
	assert.Equal(t, 8, zero, "the first 8 did not queue")
	assert.Equal(t, 24, positive)
}

// TestQueueIsFIFO holds the one slot of a warehouse and queues statements
// one after the other: they get the slot in the order they came.
func TestQueueIsFIFO(t *testing.T) {
	s, db := whServer(t, snowflaketest.Options{Warehouse: snowflaketest.WarehouseOptions{MaxConcurrency: 1}})
	cs := conns(t, db, 6)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	wg.Go(func() { errs[0] = query(cs[0], "fifo-hold", `SELECT SYSTEM$WAIT(500, 'MILLISECONDS') FROM "T"`) })
	eventually(t, "the slot is held", func() bool { return s.Warehouse(snowflaketest.DefaultWarehouse).Active == 1 })
	for i := 1; i < 6; i++ {
		wg.Go(func() { errs[i] = query(cs[i], "fifo", `SELECT SYSTEM$WAIT(50, 'MILLISECONDS'), ? FROM "T"`, int64(i)) })
		eventually(t, "the next one queues", func() bool { return s.Warehouse(snowflaketest.DefaultWarehouse).Queued == i })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	sts := tagged(s, "fifo")
	require.Len(t, sts, 5)
	slices.SortFunc(sts, func(a, b snowflaketest.Statement) int { return a.Start.Compare(b.Start) })
	for i := 1; i < len(sts); i++ {
		assert.True(t, granted(sts[i]).After(granted(sts[i-1])), "statement %d got the slot after statement %d", i, i-1)
		assert.GreaterOrEqual(t, granted(sts[i]).Sub(granted(sts[i-1])), 50*time.Millisecond, "one at a time")
	}
}

// TestQueuedTimeout fails a statement that waited longer than
// STATEMENT_QUEUED_TIMEOUT_IN_SECONDS, set on the session or on the
// warehouse, with Snowflake's statement-timeout error.
func TestQueuedTimeout(t *testing.T) {
	s, db := whServer(t, snowflaketest.Options{})
	cs := conns(t, db, 4)
	ctx := context.Background()
	// COMPUTE_WH: the session sets the timeout. QUEUE_WH: the warehouse.
	for _, q := range []string{
		`ALTER WAREHOUSE COMPUTE_WH SET MAX_CONCURRENCY_LEVEL = 1`,
		`CREATE WAREHOUSE QUEUE_WH MAX_CONCURRENCY_LEVEL = 1, STATEMENT_QUEUED_TIMEOUT_IN_SECONDS = 1`,
	} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	assert.Equal(t, 1, s.Warehouse("compute_wh").MaxConcurrency)
	for i, q := range []string{`USE WAREHOUSE QUEUE_WH`, `ALTER SESSION SET STATEMENT_QUEUED_TIMEOUT_IN_SECONDS = 1`, `USE WAREHOUSE QUEUE_WH`} {
		_, err := cs[i+1].ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	var wg sync.WaitGroup
	holdErrs := make([]error, 2)
	wg.Go(func() { holdErrs[0] = query(cs[0], "hold", `SELECT SYSTEM$WAIT(3) FROM "T"`) })
	wg.Go(func() { holdErrs[1] = query(cs[1], "hold", `SELECT SYSTEM$WAIT(3) FROM "T"`) })
	eventually(t, "both slots are held", func() bool {
		return s.Warehouse("COMPUTE_WH").Active == 1 && s.Warehouse("QUEUE_WH").Active == 1
	})
	errs := make([]error, 2)
	took := make([]time.Duration, 2)
	for i, c := range cs[2:] {
		wg.Go(func() {
			start := time.Now()
			errs[i] = query(c, "waiter", `SELECT "V" FROM "T"`)
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	require.NoError(t, firstErr(holdErrs))
	for i, err := range errs {
		var se *gosnowflake.SnowflakeError
		require.ErrorAs(t, err, &se, "waiter %d", i)
		assert.Equal(t, 630, se.Number)
		assert.Equal(t, "57014", se.SQLState)
		assert.GreaterOrEqual(t, took[i], time.Second)
	}
	for _, wh := range []string{"COMPUTE_WH", "QUEUE_WH"} {
		assert.Zero(t, s.Warehouse(wh).Queued, "the timed-out statements left the queue of %s", wh)
	}
	rows := history(t, db, "waiter")
	require.Len(t, rows, 2)
	for _, r := range rows {
		assert.Equal(t, "FAILED_WITH_ERROR", r.Status)
		assert.Equal(t, "000630", r.ErrorCode.String)
		assert.GreaterOrEqual(t, r.Overload, int64(1000))
		assert.False(t, r.Cluster.Valid, "it never got a cluster")
	}
	assert.ElementsMatch(t, []string{"COMPUTE_WH", "QUEUE_WH"}, []string{rows[0].Warehouse.String, rows[1].Warehouse.String})
}

// TestAutoSuspendAndResume lets a warehouse suspend after AUTO_SUSPEND idle:
// the next statement resumes it and reports the wait as provisioning.
func TestAutoSuspendAndResume(t *testing.T) {
	const resume = 300 * time.Millisecond
	s, db := whServer(t, snowflaketest.Options{
		ResumeLatency: snowflaketest.Fixed(resume),
		Warehouse:     snowflaketest.WarehouseOptions{AutoSuspend: time.Second},
	})
	c := conns(t, db, 1)[0]
	require.False(t, s.WarehouseRunning(snowflaketest.DefaultWarehouse), "every warehouse starts suspended")
	require.NoError(t, query(c, "cold", `SELECT "V" FROM "T"`))
	require.NoError(t, query(c, "warm", `SELECT "V" FROM "T"`))
	require.NoError(t, query(c, "warm", `SELECT 'no table, no warehouse'`))
	eventually(t, "the idle warehouse suspends", func() bool { return !s.WarehouseRunning(snowflaketest.DefaultWarehouse) })
	require.NoError(t, query(c, "resumed", `SELECT "V" FROM "T"`))

	cold, warm, resumed := tagged(s, "cold"), tagged(s, "warm"), tagged(s, "resumed")
	require.Len(t, cold, 1)
	require.Len(t, warm, 2)
	require.Len(t, resumed, 1)
	assert.GreaterOrEqual(t, cold[0].QueuedProvisioning, resume)
	assert.GreaterOrEqual(t, resumed[0].QueuedProvisioning, resume)
	assert.Zero(t, warm[0].QueuedProvisioning)
	assert.Zero(t, warm[1].QueuedProvisioning)
	assert.Zero(t, warm[1].Cluster, "a query of constants needs no warehouse")
	c2 := s.Counters()
	assert.Equal(t, 2, c2.WarehouseAutoResumes)
	assert.Equal(t, 1, c2.WarehouseAutoSuspends)

	for tag, min := range map[string]int64{"cold": resume.Milliseconds(), "resumed": resume.Milliseconds()} {
		rows := history(t, db, tag)
		require.Len(t, rows, 1)
		assert.GreaterOrEqual(t, rows[0].Prov, min, tag)
		assert.GreaterOrEqual(t, rows[0].Total, rows[0].Prov, tag)
	}
}

// TestResumeAndSuspendStatements resumes a warehouse explicitly, as
// pool/snowflake's warehouse.resume step does: the statement pays the
// provisioning, the queries after it do not; statements that arrive during
// a resume wait for it; SUSPEND stops it, and AUTO_RESUME = FALSE makes a
// query on it fail.
func TestResumeAndSuspendStatements(t *testing.T) {
	const resume = 800 * time.Millisecond
	s, db := whServer(t, snowflaketest.Options{ResumeLatency: snowflaketest.Fixed(resume)})
	cs := conns(t, db, 3)
	ctx := context.Background()
	start := time.Now()
	_, err := cs[0].ExecContext(ctx, `ALTER WAREHOUSE COMPUTE_WH RESUME IF SUSPENDED`)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), resume, "RESUME returns once the warehouse runs")
	require.NoError(t, query(cs[0], "after-resume", `SELECT "V" FROM "T"`))
	after := tagged(s, "after-resume")
	require.Len(t, after, 1)
	assert.Zero(t, after[0].QueuedProvisioning)

	_, err = cs[0].ExecContext(ctx, `ALTER WAREHOUSE COMPUTE_WH SUSPEND`)
	require.NoError(t, err)
	assert.False(t, s.WarehouseRunning("COMPUTE_WH"))
	// Two statements arrive during one resume: both wait for it, the later
	// one less.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = query(cs[1], "during-1", `SELECT "V" FROM "T"`) })
	eventually(t, "the first resumes the warehouse", func() bool { return s.Warehouse("COMPUTE_WH").Running })
	time.Sleep(50 * time.Millisecond)
	wg.Go(func() { errs[1] = query(cs[2], "during-2", `SELECT "V" FROM "T"`) })
	wg.Wait()
	require.NoError(t, firstErr(errs))
	d1, d2 := tagged(s, "during-1"), tagged(s, "during-2")
	require.Len(t, d1, 1)
	require.Len(t, d2, 1)
	assert.GreaterOrEqual(t, d1[0].QueuedProvisioning, resume)
	assert.Positive(t, d2[0].QueuedProvisioning)
	assert.Less(t, d2[0].QueuedProvisioning, d1[0].QueuedProvisioning, "the later arrival waited for the same resume")
	assert.Equal(t, 1, s.Counters().WarehouseResumes)

	_, err = cs[0].ExecContext(ctx, `ALTER WAREHOUSE COMPUTE_WH SET AUTO_RESUME = FALSE`)
	require.NoError(t, err)
	_, err = cs[0].ExecContext(ctx, `ALTER WAREHOUSE COMPUTE_WH SUSPEND`)
	require.NoError(t, err)
	err = query(cs[0], "no-resume", `SELECT "V" FROM "T"`)
	var se *gosnowflake.SnowflakeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 606, se.Number)
	_, err = cs[0].ExecContext(ctx, `ALTER WAREHOUSE COMPUTE_WH RESUME`)
	require.NoError(t, err)
	_, err = cs[0].ExecContext(ctx, `ALTER WAREHOUSE COMPUTE_WH RESUME`)
	require.ErrorAs(t, err, &se, "RESUME of a running warehouse, without IF SUSPENDED")
	assert.Equal(t, 90064, se.Number)
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestScaleOutReducesQueueing runs the same burst on a single-cluster
// warehouse and on a multi-cluster one with the standard policy: the
// second starts clusters while statements queue, one interval apart, so
// they queue less; idle extra clusters shut down again.
func TestScaleOutReducesQueueing(t *testing.T) {
	const (
		start    = 100 * time.Millisecond
		interval = 300 * time.Millisecond
	)
	s, db := whServer(t, snowflaketest.Options{Warehouse: snowflaketest.WarehouseOptions{
		MaxConcurrency: 2, ClusterStartLatency: snowflaketest.Fixed(start), ScaleOutInterval: interval,
		ScaleInIdle: 200 * time.Millisecond,
	}})
	ctx := context.Background()
	_, err := db.ExecContext(ctx, `CREATE WAREHOUSE MULTI_WH WITH MAX_CONCURRENCY_LEVEL = 2 MIN_CLUSTER_COUNT = 1 MAX_CLUSTER_COUNT = 3 SCALING_POLICY = 'STANDARD'`)
	require.NoError(t, err)
	burst := func(wh string) []snowflaketest.Statement {
		cs := conns(t, db, 12)
		for _, c := range cs {
			_, err := c.ExecContext(ctx, `USE WAREHOUSE `+wh)
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(cs))
		for i, c := range cs {
			wg.Go(func() { errs[i] = query(c, "scale-"+wh, `SELECT SYSTEM$WAIT(400, 'MILLISECONDS') FROM "T"`) })
		}
		wg.Wait()
		require.NoError(t, firstErr(errs))
		return tagged(s, "scale-"+wh)
	}
	single, multi := burst("COMPUTE_WH"), burst("MULTI_WH")
	require.Len(t, single, 12)
	require.Len(t, multi, 12)
	sum := func(sts []snowflaketest.Statement) (total time.Duration, top int) {
		for _, st := range sts {
			total += st.QueuedOverload
			top = max(top, st.Cluster)
		}
		return total, top
	}
	singleWait, singleTop := sum(single)
	multiWait, multiTop := sum(multi)
	assert.Equal(t, 1, singleTop)
	assert.Equal(t, 3, multiTop, "scale-out started two more clusters")
	assert.Equal(t, 2, s.Counters().ClustersStarted)
	assert.Less(t, multiWait, singleWait, "more clusters, less queueing")
	t.Logf("queued overload: single cluster %v, three clusters %v", singleWait, multiWait)

	// The third cluster started at least one interval after the second:
	// its first statement ran no sooner than the first queued arrival plus
	// the interval and a cluster's start.
	var firstQueued, third time.Time
	for _, st := range multi {
		if arrived := st.Start.Add(st.Compilation); st.QueuedOverload > 0 && (firstQueued.IsZero() || arrived.Before(firstQueued)) {
			firstQueued = arrived
		}
		if st.Cluster == 3 && (third.IsZero() || granted(st).Before(third)) {
			third = granted(st)
		}
	}
	assert.GreaterOrEqual(t, third.Sub(firstQueued), interval+start-time.Millisecond)
	assert.LessOrEqual(t, maxOverlap(multi), 6, "three clusters of two slots")
	eventually(t, "idle extra clusters shut down", func() bool { return s.Warehouse("MULTI_WH").Clusters == 1 })
}

// TestResultCache answers an identical query text from the result cache
// when USE_CACHED_RESULT is TRUE (its default): without a slot, without
// execution time, even on a suspended warehouse. Another text, other bind
// values, a change of the data, USE_CACHED_RESULT=FALSE at login or by
// ALTER SESSION, and functions evaluated at execution time all miss.
func TestResultCache(t *testing.T) {
	s, db := whServer(t, snowflaketest.Options{QueryLatency: snowflaketest.Fixed(50 * time.Millisecond)}, true)
	c := conns(t, db, 1)[0]
	ctx := context.Background()
	run := func(tag, q string, args ...any) snowflaketest.Statement {
		t.Helper()
		require.NoError(t, query(c, tag, q, args...))
		sts := tagged(s, tag)
		require.NotEmpty(t, sts)
		return sts[len(sts)-1]
	}
	const q = `SELECT "V" FROM "T" WHERE "ID" = ?`
	first := run("c1", q, int64(1))
	assert.False(t, first.CacheHit)
	assert.GreaterOrEqual(t, first.Execution, 50*time.Millisecond)
	hit := run("c2", q, int64(1))
	assert.True(t, hit.CacheHit)
	assert.Zero(t, hit.Execution, "no execution time")
	assert.Zero(t, hit.Cluster, "no slot")
	assert.Equal(t, "arrow", hit.Format)
	assert.False(t, run("c3", q, int64(2)).CacheHit, "other bind values")
	assert.False(t, run("c4", `select "V" from "T" where "ID" = ?`, int64(1)).CacheHit, "another text")
	assert.False(t, run("c5", `SELECT CURRENT_TIMESTAMP(), "V" FROM "T"`).CacheHit)
	assert.False(t, run("c5", `SELECT CURRENT_TIMESTAMP(), "V" FROM "T"`).CacheHit, "evaluated at execution time")

	// A cache hit needs no warehouse: it stays suspended.
	_, err := c.ExecContext(ctx, `ALTER WAREHOUSE COMPUTE_WH SUSPEND`)
	require.NoError(t, err)
	resumes := s.Counters().WarehouseAutoResumes
	assert.True(t, run("c6", q, int64(1)).CacheHit)
	assert.False(t, s.WarehouseRunning("COMPUTE_WH"))
	assert.Equal(t, resumes, s.Counters().WarehouseAutoResumes)

	rows := history(t, db, "c2")
	require.Len(t, rows, 1)
	assert.Zero(t, rows[0].Exec)
	assert.False(t, rows[0].Cluster.Valid)
	assert.False(t, rows[0].Size.Valid, "a cache hit used no warehouse")
	assert.True(t, rows[0].Warehouse.Valid, "but the session had one")

	_, err = c.ExecContext(ctx, `INSERT INTO "T" VALUES (4, 'd')`)
	require.NoError(t, err)
	assert.False(t, run("c7", q, int64(1)).CacheHit, "the data changed")
	assert.True(t, run("c8", q, int64(1)).CacheHit)

	_, err = c.ExecContext(ctx, `ALTER SESSION SET USE_CACHED_RESULT = FALSE`)
	require.NoError(t, err)
	assert.False(t, run("c9", q, int64(1)).CacheHit, "ALTER SESSION SET USE_CACHED_RESULT = FALSE")

	// As startline's pool sets it: at login.
	off := openWith(t, s, map[string]string{"USE_CACHED_RESULT": "FALSE"})
	oc := conns(t, off, 1)[0]
	for range 2 {
		require.NoError(t, query(oc, "login-off", q, int64(1)))
	}
	for _, st := range tagged(s, "login-off") {
		assert.False(t, st.CacheHit)
		assert.Equal(t, 1, st.Cluster)
	}
	assert.Equal(t, 3, s.Counters().CacheHits)
}

// TestLatencyModel splits a statement's time as the model says: its
// compilation, then its execution (by kind), both in the server's records
// and in QUERY_HISTORY.
func TestLatencyModel(t *testing.T) {
	s, db := whServer(t, snowflaketest.Options{
		CompileLatency: snowflaketest.Fixed(30 * time.Millisecond),
		QueryLatency:   snowflaketest.Fixed(40 * time.Millisecond),
		InsertLatency:  snowflaketest.Fixed(60 * time.Millisecond),
	})
	c := conns(t, db, 1)[0]
	require.NoError(t, query(c, "lat-select", `SELECT "V" FROM "T"`))
	_, err := c.ExecContext(gosnowflake.WithQueryTag(context.Background(), "lat-insert"), `INSERT INTO "T" VALUES (9, 'z')`)
	require.NoError(t, err)
	for tag, exec := range map[string]time.Duration{"lat-select": 40 * time.Millisecond, "lat-insert": 60 * time.Millisecond} {
		sts := tagged(s, tag)
		require.Len(t, sts, 1)
		st := sts[0]
		assert.GreaterOrEqual(t, st.Compilation, 30*time.Millisecond, tag)
		assert.GreaterOrEqual(t, st.Execution, exec, tag)
		assert.GreaterOrEqual(t, st.End.Sub(st.Start), st.Compilation+st.QueuedProvisioning+st.QueuedOverload+st.Execution, tag)
		rows := history(t, db, tag)
		require.Len(t, rows, 1)
		assert.GreaterOrEqual(t, rows[0].Compile, int64(30), tag)
		assert.GreaterOrEqual(t, rows[0].Exec, exec.Milliseconds(), tag)
		assert.GreaterOrEqual(t, rows[0].Total, rows[0].Compile+rows[0].Exec, tag)
	}
}

// TestWarehouseStatements configures warehouses in SQL, with Snowflake's
// errors for what cannot be.
func TestWarehouseStatements(t *testing.T) {
	s, db := open(t, snowflaketest.Options{})
	ctx := context.Background()
	for _, q := range []string{
		`CREATE WAREHOUSE IF NOT EXISTS BIG_WH WITH WAREHOUSE_SIZE = 'LARGE' MAX_CONCURRENCY_LEVEL = 4 INITIALLY_SUSPENDED = TRUE AUTO_SUSPEND = 60`,
		`CREATE WAREHOUSE IF NOT EXISTS BIG_WH`,
		`ALTER WAREHOUSE BIG_WH SET MIN_CLUSTER_COUNT = 2, MAX_CLUSTER_COUNT = 4`,
	} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	st := s.Warehouse("big_wh")
	assert.Equal(t, snowflaketest.WarehouseState{Name: "BIG_WH", MaxConcurrency: 4, MinClusters: 2, MaxClusters: 4, Size: "Large"}, st,
		"initially suspended")
	_, err := db.ExecContext(ctx, `ALTER WAREHOUSE BIG_WH RESUME`)
	require.NoError(t, err)
	st = s.Warehouse("BIG_WH")
	assert.Equal(t, 2, st.Clusters, "a resumed warehouse starts MIN_CLUSTER_COUNT clusters")
	_, err = db.ExecContext(ctx, `ALTER WAREHOUSE BIG_WH UNSET MAX_CONCURRENCY_LEVEL`)
	require.NoError(t, err)
	assert.Equal(t, snowflaketest.DefaultMaxConcurrency, s.Warehouse("BIG_WH").MaxConcurrency)
	_, err = db.ExecContext(ctx, `CREATE OR REPLACE WAREHOUSE BIG_WH WAREHOUSE_SIZE = XSMALL`)
	require.NoError(t, err)
	assert.Equal(t, "X-Small", s.Warehouse("BIG_WH").Size)
	assert.True(t, s.Warehouse("BIG_WH").Running, "a created warehouse runs unless INITIALLY_SUSPENDED")

	for q, code := range map[string]int{
		`CREATE WAREHOUSE BIG_WH`:                                     2002,
		`ALTER WAREHOUSE BIG_WH SET MAX_CONCURRENCY_LEVEL = 0`:        1008,
		`ALTER WAREHOUSE BIG_WH SET WAREHOUSE_SIZE = 'HUGE'`:          1008,
		`ALTER WAREHOUSE BIG_WH SET SCALING_POLICY = 'ECONOMY'`:       1008,
		`ALTER WAREHOUSE BIG_WH SET MIN_CLUSTER_COUNT = 3`:            1008,
		`ALTER WAREHOUSE BIG_WH SET NO_SUCH_PROPERTY = 1`:             1008,
		`ALTER WAREHOUSE BIG_WH SET AUTO_SUSPEND = 'soon'`:            1008,
		`DROP WAREHOUSE NO_SUCH_WH`:                                   2003,
		`ALTER SESSION SET USE_CACHED_RESULT = 'perhaps'`:             1008,
		`ALTER SESSION SET STATEMENT_QUEUED_TIMEOUT_IN_SECONDS = -1`:  1008,
		`SELECT SYSTEM$WAIT(1, 'FORTNIGHTS') FROM TABLE(GENERATOR())`: 100069,
	} {
		_, err := db.ExecContext(ctx, q)
		var se *gosnowflake.SnowflakeError
		require.ErrorAs(t, err, &se, q)
		assert.Equal(t, code, se.Number, q)
	}
	_, err = db.ExecContext(ctx, `DROP WAREHOUSE IF EXISTS BIG_WH`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `DROP WAREHOUSE IF EXISTS BIG_WH`)
	require.NoError(t, err)
}

// TestQueueWhenTheWarehouseGoes suspends a warehouse that may not resume,
// and drops another, while statements queue on them: the queued statements
// fail at once, the running ones finish.
func TestQueueWhenTheWarehouseGoes(t *testing.T) {
	s, db := whServer(t, snowflaketest.Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		wh, gone string
		code     int
	}{
		{"NORESUME_WH", `ALTER WAREHOUSE NORESUME_WH SUSPEND`, 606},
		{"DROPPED_WH", `DROP WAREHOUSE DROPPED_WH`, 604},
	} {
		_, err := db.ExecContext(ctx, `CREATE WAREHOUSE `+tc.wh+` MAX_CONCURRENCY_LEVEL = 1 AUTO_RESUME = FALSE`)
		require.NoError(t, err)
		cs := conns(t, db, 2)
		for _, c := range cs {
			_, err := c.ExecContext(ctx, `USE WAREHOUSE `+tc.wh)
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		var holdErr, waitErr error
		wg.Go(func() { holdErr = query(cs[0], "gone-hold", `SELECT SYSTEM$WAIT(1) FROM "T"`) })
		eventually(t, "the slot is held", func() bool { return s.Warehouse(tc.wh).Active == 1 })
		wg.Go(func() { waitErr = query(cs[1], "gone-wait", `SELECT "V" FROM "T"`) })
		eventually(t, "a statement queues", func() bool { return s.Warehouse(tc.wh).Queued == 1 })
		_, err = db.ExecContext(ctx, tc.gone)
		require.NoError(t, err, tc.gone)
		wg.Wait()
		require.NoError(t, holdErr, "the running statement finishes")
		var se *gosnowflake.SnowflakeError
		require.ErrorAs(t, waitErr, &se, tc.gone)
		assert.Equal(t, tc.code, se.Number, tc.gone)
		holds, waits := tagged(s, "gone-hold"), tagged(s, "gone-wait")
		assert.True(t, waits[len(waits)-1].End.Before(holds[len(holds)-1].End), "the queued statement did not wait for the slot")
	}
}
