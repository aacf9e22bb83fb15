package sqlcoord_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/pool/dialect"
)

func TestJoinUnknownRun(t *testing.T) {
	db := sqliteDatabase(t)
	h := open(t, db)
	tb := tables(t, db, h)
	c := client(t, backend(t, tb, "nobody-made-me", nil), fast())
	_, err := c.Join(context.Background(), coordinate.Node{ID: "n"})
	require.ErrorIs(t, err, coordinate.ErrNoRun)
	assert.ErrorContains(t, err, "nobody-made-me")
}

func TestInvalidOptions(t *testing.T) {
	db := sqliteDatabase(t)
	h := open(t, db)
	good := sqlcoord.Tables{DB: h, Dialect: dialect.SQLite}
	for _, tc := range []struct {
		name  string
		opts  sqlcoord.Options
		field string
	}{
		{"no db", sqlcoord.Options{Tables: sqlcoord.Tables{Dialect: dialect.SQLite}, RunID: "r"}, "Tables.DB"},
		{"zero dialect", sqlcoord.Options{Tables: sqlcoord.Tables{DB: h}, RunID: "r"}, "Tables.Dialect"},
		{"bad prefix", sqlcoord.Options{Tables: sqlcoord.Tables{DB: h, Dialect: dialect.SQLite, Prefix: "x; DROP"}, RunID: "r"}, "Tables.Prefix"},
		{"bad run id", sqlcoord.Options{Tables: good, RunID: "a b"}, "Options.RunID"},
		{"path as run id", sqlcoord.Options{Tables: good, RunID: "../etc"}, "Options.RunID"},
		{"empty run id", sqlcoord.Options{Tables: good}, "Options.RunID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sqlcoord.New(tc.opts)
			require.ErrorIs(t, err, sqlcoord.ErrInvalid)
			require.ErrorIs(t, err, coordinate.ErrInvalid)
			assert.ErrorContains(t, err, tc.field)
		})
	}
}

// TestClockBound: the database's clock has a resolution, so every bound is
// positive, and on this host every offset lies within its bound.
func TestClockBound(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db database) {
		h := open(t, db)
		tb := tables(t, db, h)
		b := backend(t, tb, runID(), nil)
		o := orchestrator(t, b)
		m, err := client(t, b, fast()).Join(context.Background(), coordinate.Node{ID: "n"})
		require.NoError(t, err)
		defer m.Leave(context.Background(), nil)
		for _, cl := range []coordinate.Clocked{m.(coordinate.Clocked), o} {
			off, bound := cl.ClockOffset()
			assert.Positive(t, bound)
			assert.LessOrEqual(t, abs(off), bound, "offset %s bound %s", off, bound)
		}
	})
}

// TestRewriteWithoutChange: a conditional write of the run that changes no
// value succeeds (MySQL reports only the rows an UPDATE changed), and one
// from the wrong status is a conflict.
func TestRewriteWithoutChange(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		h := open(t, db)
		tb := tables(t, db, h)
		b := backend(t, tb, runID(), nil)
		r := coordinate.RunRecord{Status: coordinate.RunWaiting, Created: time.Now(), Want: 2, Expect: []string{"a", "b"}}
		require.NoError(t, b.PutRun(ctx, r, ""))
		require.ErrorIs(t, b.PutRun(ctx, r, ""), coordinate.ErrRunExists)
		require.NoError(t, b.PutRun(ctx, r, coordinate.RunWaiting))
		require.NoError(t, b.PutRun(ctx, r, coordinate.RunWaiting), "the same record again")
		require.ErrorIs(t, b.PutRun(ctx, r, coordinate.RunStarted), coordinate.ErrConflict)
		got, err := b.Run(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, got.Expect)
		assert.Equal(t, 2, got.Want)
		assert.NoError(t, got.Bad)
	})
}

func TestName(t *testing.T) {
	db := sqliteDatabase(t)
	h := open(t, db)
	tb := tables(t, db, h)
	assert.Equal(t, "sql", backend(t, tb, "r", nil).Name())
	assert.Equal(t, "fake", backend(t, tb, "r", fakeNotifier{}).Name())
}

type fakeNotifier struct{}

func (fakeNotifier) Subscribe(context.Context, string, string) (coordinate.Subscription, error) {
	return nil, nil
}
func (fakeNotifier) Notify(context.Context, string, string) error { return nil }
func (fakeNotifier) Name() string                                 { return "fake" }
