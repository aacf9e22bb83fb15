package pgnotify_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/coordtest"
	"github.com/startline/startline/coordinate/pgnotify"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/pool/dialect"
)

var runs atomic.Int64

// TestConformance runs the conformance suite on the SQL tables with
// LISTEN/NOTIFY on PostgreSQL. The members poll only every quarter of a
// second (the suite's own polls are milliseconds apart): the start and
// the events reach them by notification.
func TestConformance(t *testing.T) {
	dsn := testenv.Postgres(t)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	var r [4]byte
	_, _ = rand.Read(r[:])
	tb := sqlcoord.Tables{DB: db, Dialect: dialect.Postgres, Prefix: "slpn_" + hex.EncodeToString(r[:]) + "_"}
	require.NoError(t, tb.Create(context.Background()))
	defer func() { _ = tb.Drop(context.Background()) }()
	n, err := pgnotify.New(dsn)
	require.NoError(t, err)
	defer n.Close()
	coordtest.Run(t, func(t *testing.T) coordtest.Harness {
		b, err := sqlcoord.New(sqlcoord.Options{Tables: tb, RunID: fmt.Sprintf("pn-run-%d", runs.Add(1)), Notifier: n})
		require.NoError(t, err)
		get := func(*testing.T) coordinate.Backend { return b }
		return coordtest.Harness{Orchestrator: get, Member: get, Options: func(o *coordinate.Options) {
			o.Poll = 250 * time.Millisecond
		}}
	})
}
