package secrettest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/pgnotify"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/internal/secrettest"
	"github.com/startline/startline/pool/dialect"
)

// TestPgnotifyKeepsPasswordsOut gives the LISTEN/NOTIFY notifier DSNs with
// a planted password that do not parse or do not connect, alone and under
// a coordinator, which logs a failed subscription and falls back to
// polling: neither its errors nor the coordinator's log may hold the
// password.
func TestPgnotifyKeepsPasswordsOut(t *testing.T) {
	ctx := context.Background()
	for name, dsn := range pgDSNs(t) {
		t.Run(name, func(t *testing.T) {
			n, err := pgnotify.New(dsn)
			if err != nil {
				secrettest.CheckErr(t, "pgnotify.New's error", err)
				return
			}
			defer n.Close()
			err = n.Notify(ctx, "startline_notify", "run")
			require.Error(t, err)
			secrettest.CheckErr(t, "Notify's error", err)
			sub, err := n.Subscribe(ctx, "startline_notify", "run")
			if err == nil {
				sub.Close()
				t.Fatal("subscribed through a DSN that cannot connect")
			}
			secrettest.CheckErr(t, "Subscribe's error", err)

			// Under a coordinator: the failed subscription is logged.
			logger, logs := secrettest.Logger()
			db := sqliteDB(t, "coord")
			tb := sqlcoord.Tables{DB: db, Dialect: dialect.SQLite}
			b, err := sqlcoord.New(sqlcoord.Options{Tables: tb, RunID: "r", Notifier: n, Logger: logger})
			require.NoError(t, err)
			kit := coordinate.Options{Logger: logger, Poll: 5 * time.Millisecond}
			_, err = coordinate.NewRun(ctx, b, kit)
			require.NoError(t, err)
			c, err := coordinate.NewClient(b, kit)
			require.NoError(t, err)
			m, err := c.Join(ctx, coordinate.Node{ID: "w"})
			require.NoError(t, err)
			require.NoError(t, m.Leave(ctx, nil))
			secrettest.Check(t, "the coordinator's log", logs.String())
			require.Contains(t, logs.String(), "subscribing failed")
		})
	}
}
