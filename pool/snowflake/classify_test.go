package snowflake_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/snowflakedb/gosnowflake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
	"github.com/startline/startline/timing"
)

// What the pool says of the driver's errors, as the local server makes
// them, beside what the generic classification says without it.
func TestClassifyError(t *testing.T) {
	s := newServer(t, snowflaketest.Options{QueryLatency: snowflaketest.Fixed(1500 * time.Millisecond)})
	p := newPool(t, s, snowflake.Options{})
	ctx := context.Background()
	conn, err := p.DB().Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()

	_, missing := conn.ExecContext(ctx, "SELECT * FROM no_such_table")
	require.Error(t, missing)
	_, err = conn.ExecContext(ctx, "ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = 1")
	require.NoError(t, err)
	_, timedOut := conn.ExecContext(ctx, "SELECT 1")
	require.Error(t, timedOut)

	for _, c := range []struct {
		name      string
		err       error
		kind      pool.ErrorKind
		retryable bool
	}{
		{"compilation error", missing, pool.KindSQL, false},
		{"statement timeout", timedOut, pool.KindTimeout, false},
		{"service unavailable", &gosnowflake.SnowflakeError{Number: gosnowflake.ErrCodeServiceUnavailable}, pool.KindConnection, true},
		{"lost connection", &gosnowflake.SnowflakeError{Number: 1, SQLState: "08006"}, pool.KindConnection, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			kind, retryable, ok := p.ClassifyError(c.err)
			require.True(t, ok, "%v", c.err)
			assert.Equal(t, c.kind, kind)
			assert.Equal(t, c.retryable, retryable)
		})
	}
	assert.Equal(t, pool.KindOther, pool.Classify(missing), "without the pool, a Snowflake error is of no known kind")
	_, _, ok := p.ClassifyError(errors.New("not Snowflake's"))
	assert.False(t, ok, "the pool leaves other errors to the generic classification")
}

func TestClassifyLoginErrors(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	s.FailNext(snowflaketest.EndpointLogin, http.StatusTooManyRequests, 10)
	p := newPool(t, s, snowflake.Options{RetryBackoff: time.Millisecond, LoginRetries: 1})
	throttled := warmErr(t, p, 1)
	kind, retryable, ok := p.ClassifyError(throttled)
	require.True(t, ok)
	assert.Equal(t, pool.KindConnection, kind)
	assert.True(t, retryable, "a throttled login may succeed later")

	s2 := newServer(t, snowflaketest.Options{})
	bad, err := snowflake.New(s2.Config(snowflaketest.DefaultUser, "wrong"), snowflake.Options{})
	require.NoError(t, err)
	defer bad.Close()
	denied := warmErr(t, bad, 1)
	kind, retryable, ok = bad.ClassifyError(denied)
	require.True(t, ok)
	assert.Equal(t, pool.KindSQL, kind)
	assert.False(t, retryable, "wrong credentials stay wrong")
}

// Snowflake's knowledge reaches a Runner: an operation's compilation error
// is counted as a statement error (kind sql) and opens no fault, where the
// generic classification would say "other" and mark a fault; a login
// throttled beyond the pool's own retries makes the Runner retry
// pool.init, where the generic classification would fail the run.
func TestRunnerUsesSnowflakeClassification(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	s.FailNext(snowflaketest.EndpointLogin, http.StatusTooManyRequests, 2)
	p := newPool(t, s, snowflake.Options{RetryBackoff: time.Millisecond, LoginRetries: 1})
	r, err := loadtest.New(loadtest.Config{
		Pool: p, Workers: 2, ConnParallel: 1, Duration: 200 * time.Millisecond, SetupBackoff: time.Millisecond,
		Workload: loadtest.Workload{Operations: []loadtest.Operation{
			loadtest.QueryOp("ok", 1, "SELECT 1", nil),
			loadtest.QueryOp("missing", 1, "SELECT * FROM no_such_table", nil),
		}},
	})
	require.NoError(t, err)
	res, err := r.Run(context.Background())
	require.NoError(t, err)

	retries := res.Timeline.Find(timing.SetupRetry)
	require.Len(t, retries, 1, "pool.init retried once after the throttled logins")
	assert.Contains(t, retries[0].Detail, string(timing.PoolInit))
	m := res.Operations["missing"]
	require.Positive(t, m.Errors)
	assert.Equal(t, map[string]int64{"sql": m.Errors}, m.ErrorsByKind)
	assert.Empty(t, res.Timeline.Find(timing.Fault), "a statement error is no fault")
	assert.Positive(t, res.Operations["ok"].Ops-res.Operations["ok"].Errors)
}
