package snowflake_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
)

// TestQueryHistoryByRunTag runs a pool's statements as a worker would and
// reads the local server's QUERY_HISTORY by the run's QUERY_TAG and time
// range: every statement is there, under the tag that was in force when it
// ran (the session's at login for the warm-up and the resume, the
// worker's and phase's afterwards).
func TestQueryHistoryByRunTag(t *testing.T) {
	s := newServer(t, snowflaketest.Options{QueryLatency: snowflaketest.Fixed(5 * time.Millisecond)})
	_, err := s.DB().Exec(`CREATE TABLE "T" ("ID" INTEGER)`)
	require.NoError(t, err)
	since := time.Now()
	p := newPool(t, s, snowflake.Options{Settings: snowflake.Settings{RunID: "run-hist", Warehouse: "bench_wh"}})
	ctx := context.Background()
	require.NoError(t, p.Warm(ctx, pool.WarmOptions{Conns: 2}))
	require.NoError(t, p.Prepare(ctx))
	ps, err := p.Session(ctx)
	require.NoError(t, err)
	sess := ps.(*snowflake.Session)
	sess.TagPhase(0, "warmup", "read")
	for range 2 {
		_, err := sess.Query(ctx, `SELECT "ID" FROM "T"`)
		require.NoError(t, err)
	}
	sess.TagPhase(0, "measure", "read")
	for range 3 {
		_, err := sess.Query(ctx, `SELECT "ID" FROM "T"`)
		require.NoError(t, err)
	}
	require.NoError(t, sess.Close())

	rows, err := p.DB().QueryContext(ctx, `SELECT QUERY_TAG, QUERY_TYPE, COUNT(*), MIN(EXECUTION_TIME), MIN(WAREHOUSE_NAME)
		FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(END_TIME_RANGE_START => ?, END_TIME_RANGE_END => CURRENT_TIMESTAMP(), RESULT_LIMIT => 10000))
		WHERE QUERY_TAG LIKE '%"startline":"run-hist"%' GROUP BY QUERY_TAG, QUERY_TYPE ORDER BY QUERY_TAG, QUERY_TYPE`, since)
	require.NoError(t, err)
	type group struct {
		tag, typ  string
		n, minMS  int64
		warehouse string
	}
	var got []group
	for rows.Next() {
		var g group
		require.NoError(t, rows.Scan(&g.tag, &g.typ, &g.n, &g.minMS, &g.warehouse))
		got = append(got, g)
	}
	require.NoError(t, rows.Close())
	for i := range got {
		// The server's execution latency is a lower bound of each one's.
		assert.GreaterOrEqual(t, got[i].minMS, int64(5), "%+v", got[i])
		got[i].minMS = 0
	}
	init := p.Settings().QueryTag(-1, "pool.init", "")
	assert.Equal(t, []group{
		{init, "ALTER_WAREHOUSE_RESUME", 1, 0, "BENCH_WH"},
		{init, "SELECT", 2, 0, "BENCH_WH"}, // the warm-up's pings
		{p.Settings().QueryTag(0, "measure", "read"), "SELECT", 3, 0, "BENCH_WH"},
		{p.Settings().QueryTag(0, "warmup", "read"), "SELECT", 2, 0, "BENCH_WH"},
	}, got)
}
