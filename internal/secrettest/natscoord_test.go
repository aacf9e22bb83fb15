package secrettest_test

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/natscoord"
	"github.com/startline/startline/coordinate/natscoord/natsembed"
	"github.com/startline/startline/internal/secrettest"
)

// natsURLs are NATS URLs holding a planted secret, as a password or as a
// token, for host:port.
func natsURLs(hostPort string) map[string]string {
	return map[string]string{
		"password":   "nats://user:" + secrettest.Secret + "@" + hostPort,
		"special":    "nats://" + url.UserPassword("user", secrettest.Special).String() + "@" + hostPort,
		"token":      "nats://" + secrettest.Secret + "@" + hostPort,
		"second":     "nats://127.0.0.1:1,nats://u:" + secrettest.Secret + "@" + hostPort,
		"unparsable": "nats://user:" + secrettest.Secret + "@" + hostPort + "/%zz",
		"no scheme":  "user:" + secrettest.Secret + "@" + hostPort,
	}
}

// TestNatscoordKeepsPasswordsOut: NATS URLs with a planted secret that do
// not connect, and that connect to a server which then goes away and comes
// back: neither the errors nor the log (disconnect, reconnect, the kit's
// failed reads) hold the secret.
func TestNatscoordKeepsPasswordsOut(t *testing.T) {
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	l.Close()
	for name, u := range natsURLs(closed) {
		t.Run("unreachable/"+name, func(t *testing.T) {
			logger, logs := secrettest.Logger()
			_, err := natscoord.New(natscoord.Options{URL: u, RunID: "r", Timeout: 200 * time.Millisecond, Logger: logger})
			require.Error(t, err)
			secrettest.CheckErr(t, "natscoord.New's error", err)
			secrettest.Check(t, "natscoord's log", logs.String())
		})
	}

	srv, err := natsembed.Start(natsembed.Options{})
	require.NoError(t, err)
	defer srv.Stop()
	u := natsURLs("127.0.0.1:" + strconv.Itoa(srv.Port()))["password"]
	logger, logs := secrettest.Logger()
	mk := func(serve bool) *natscoord.Backend {
		b, err := natscoord.New(natscoord.Options{URL: u, RunID: "secret-run", ServeClock: serve, Timeout: time.Second, Logger: logger})
		require.NoError(t, err, "the server has no authorization: any credentials connect")
		return b
	}
	ob, mb := mk(true), mk(false)
	defer ob.Close()
	defer mb.Close()
	kit := coordinate.Options{Logger: logger, Poll: 5 * time.Millisecond, Heartbeat: 10 * time.Millisecond, MissedBeats: -1}
	_, err = coordinate.NewRun(ctx, ob, kit)
	require.NoError(t, err)
	c, err := coordinate.NewClient(mb, kit)
	require.NoError(t, err)
	m, err := c.Join(ctx, coordinate.Node{ID: "w"})
	require.NoError(t, err)
	srv.Shutdown()
	time.Sleep(100 * time.Millisecond) // failed beats
	require.NoError(t, srv.Restart())
	require.Eventually(t, func() bool { return mb.Conn().IsConnected() }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, m.Leave(ctx, nil))
	require.Contains(t, logs.String(), "disconnected")
	secrettest.Check(t, "the coordinator's log", logs.String())
}
