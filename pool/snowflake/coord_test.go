package snowflake_test

import (
	"context"
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

func TestExpCoord(t *testing.T) {
	s := newServer(t, snowflaketest.Options{})
	p := newPool(t, s, snowflake.Options{})
	tb := sqlcoord.Tables{DB: p.DB(), Dialect: dialect.Snowflake, Prefix: "EXP_"}
	require.NoError(t, tb.Create(context.Background()))
	n := 0
	coordtest.Run(t, func(t *testing.T) coordtest.Harness {
		n++
		b, err := sqlcoord.New(sqlcoord.Options{Tables: tb, RunID: "run-" + time.Now().Format("150405.000000") + string(rune('a'+n%26))})
		require.NoError(t, err)
		get := func(*testing.T) coordinate.Backend { return b }
		return coordtest.Harness{Orchestrator: get, Member: get}
	})
}
