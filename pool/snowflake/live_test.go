package snowflake_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/snowflakedb/gosnowflake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/snowflake"
)

// TestLive runs against a real account, only when the environment names
// one: SNOWFLAKE_TEST_DSN, or what snowflake.ConfigFromEnv reads.
func TestLive(t *testing.T) {
	var cfg *gosnowflake.Config
	if dsn := os.Getenv("SNOWFLAKE_TEST_DSN"); dsn != "" {
		c, err := gosnowflake.ParseDSN(dsn)
		require.NoError(t, err, "SNOWFLAKE_TEST_DSN does not parse")
		cfg = c
	} else {
		c, ok, err := snowflake.ConfigFromEnv()
		require.NoError(t, err)
		if !ok {
			t.Skip("live Snowflake test skipped: no credentials; set SNOWFLAKE_TEST_DSN, SNOWFLAKE_DSN, or SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and SNOWFLAKE_PASSWORD")
		}
		cfg = c
	}
	cfg.DisableTelemetry = true
	p, err := snowflake.New(cfg, snowflake.Options{Settings: snowflake.Settings{
		RunID: "startline-live-test", Warehouse: cfg.Warehouse, StatementTimeout: time.Minute,
	}})
	require.NoError(t, err)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, p.Warm(ctx, pool.WarmOptions{Conns: 2}))
	require.NoError(t, p.Prepare(ctx))
	s, err := p.Session(ctx)
	require.NoError(t, err)
	defer s.Close()
	s.(*snowflake.Session).TagPhase(0, "measure", "ping")
	n, err := s.Query(ctx, "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3")
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	var cached, tag string
	conn := s.(*snowflake.Session).Conn()
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT CURRENT_QUERY_TAG()").Scan(&tag))
	assert.Contains(t, tag, "startline-live-test")
	rows, err := conn.QueryContext(ctx, "SHOW PARAMETERS LIKE 'USE_CACHED_RESULT' IN SESSION")
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	require.True(t, rows.Next())
	vals := make([]any, len(cols))
	for i := range vals {
		vals[i] = new(any)
	}
	require.NoError(t, rows.Scan(vals...))
	cached, _ = (*vals[1].(*any)).(string)
	assert.Equal(t, "false", cached)
}
