package snowflake_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/coordtest"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
)

// TestSQLCoordinatorThroughGosnowflake runs the coordinator backends'
// conformance suite on sqlcoord's tables in the Snowflake dialect, through
// gosnowflake to the local server, as the reference harness kept its
// coordination in Snowflake tables: every read and conditional write, and
// the database's clock (DATE_PART(EPOCH_MICROSECOND, SYSDATE())), go over
// the driver's HTTP protocol.
func TestSQLCoordinatorThroughGosnowflake(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	p := newPool(t, s, snowflake.Options{})
	tb := sqlcoord.Tables{DB: p.DB(), Dialect: dialect.Snowflake, Prefix: "COORD_"}
	require.NoError(t, tb.Create(context.Background()))
	var n atomic.Int64
	coordtest.Run(t, func(t *testing.T) coordtest.Harness {
		b, err := sqlcoord.New(sqlcoord.Options{Tables: tb, RunID: fmt.Sprintf("run-%d", n.Add(1))})
		require.NoError(t, err)
		get := func(*testing.T) coordinate.Backend { return b }
		// Each beat and poll is an HTTP round trip through the driver, which
		// a loaded machine (or the race detector) slows to hundreds of
		// milliseconds: beats five times as far apart as the suite's, so
		// that a live node is not declared lost when its tests kill
		// another (25 missed beats).
		return coordtest.Harness{Orchestrator: get, Member: get, Options: func(o *coordinate.Options) {
			o.Heartbeat, o.Poll = 100*time.Millisecond, 20*time.Millisecond
		}}
	})
}
