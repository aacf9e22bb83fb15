package pgnotify_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/coordinate/pgnotify"
	"github.com/startline/startline/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNotifyWakesMatchingSubscription(t *testing.T) {
	dsn := testenv.Postgres(t)
	ctx := context.Background()
	n, err := pgnotify.New(dsn)
	require.NoError(t, err)
	defer n.Close()
	mine, err := n.Subscribe(ctx, "pgnotify_test", "run-1")
	require.NoError(t, err)
	defer mine.Close()
	other, err := n.Subscribe(ctx, "pgnotify_test", "run-2")
	require.NoError(t, err)
	defer other.Close()

	// Sent after Subscribe returned: delivered.
	require.NoError(t, n.Notify(ctx, "pgnotify_test", "run-1"))
	require.NoError(t, n.Notify(ctx, "pgnotify_test", "run-1")) // coalesces
	select {
	case <-mine.C():
	case <-time.After(20 * time.Second):
		t.Fatal("no wake after a notification")
	}
	// The other key's subscription was not woken. A notification to it,
	// sent after, arrives; had run-1's leaked into its channel, the first
	// value would already be there now, so check it is empty first.
	select {
	case <-other.C():
		t.Fatal("woken by another run's notification")
	default:
	}
	require.NoError(t, n.Notify(ctx, "pgnotify_test", "run-2"))
	<-other.C()

	require.NoError(t, mine.Close())
	require.NoError(t, mine.Close(), "Close is idempotent")
	require.NoError(t, n.Close())
	require.ErrorIs(t, n.Notify(ctx, "pgnotify_test", "run-1"), pgnotify.ErrClosed)
	_, err = n.Subscribe(ctx, "pgnotify_test", "run-1")
	require.ErrorIs(t, err, pgnotify.ErrClosed)
}

func TestBadChannelAndConnString(t *testing.T) {
	_, err := pgnotify.New("postgres://u:s3cret@[::1")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
	dsn := testenv.Postgres(t)
	n, err := pgnotify.New(dsn)
	require.NoError(t, err)
	defer n.Close()
	_, err = n.Subscribe(context.Background(), `x"; DROP TABLE y; --`, "k")
	require.ErrorContains(t, err, "pgnotify: channel")
}
