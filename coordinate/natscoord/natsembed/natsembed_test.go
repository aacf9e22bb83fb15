package natsembed_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/coordinate/natscoord/natsembed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRestartKeepsStore: a bucket written before Shutdown is there after
// Restart, on the same URL, and a client that kept its connection
// reconnects to it.
func TestRestartKeepsStore(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	require.NoError(t, err)
	defer srv.Stop()
	url := srv.ClientURL()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b", Storage: jetstream.FileStorage})
	require.NoError(t, err)
	_, err = kv.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)

	srv.Shutdown()
	srv.Shutdown() // twice: a no-op
	require.NoError(t, srv.Restart())
	require.Equal(t, url, srv.ClientURL())
	require.Eventually(t, nc.IsConnected, 10*time.Second, 5*time.Millisecond, "the client reconnects")
	e, err := kv.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "v", string(e.Value()))
}

func TestStartRejectsBadPort(t *testing.T) {
	_, err := natsembed.Start(natsembed.Options{Port: 70000})
	require.ErrorContains(t, err, "Options.Port")
}

func TestPortInUse(t *testing.T) {
	a, err := natsembed.Start(natsembed.Options{})
	require.NoError(t, err)
	defer a.Stop()
	_, err = natsembed.Start(natsembed.Options{Port: a.Port(), ReadyTimeout: 500 * time.Millisecond})
	require.Error(t, err, "a second server on the same port")
}

func Example() {
	srv, err := natsembed.Start(natsembed.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Stop()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	fmt.Println(strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:"))
	// Output: true
}
