package natscoord_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/coordtest"
	"github.com/startline/startline/coordinate/natscoord"
	"github.com/startline/startline/internal/testenv"
)

// TestConformance runs the kit's suite on the embedded server: the
// orchestrator serves the clock, and every member has its own connection,
// as the nodes of a fleet do.
func TestConformance(t *testing.T) {
	coordtest.Run(t, func(t *testing.T) coordtest.Harness { return harness(t, embedded.ClientURL()) })
}

// TestConformanceExternal runs the suite once against the external server
// (nats-server 2.9 on this project's machines), which has none of the
// features of newer servers.
func TestConformanceExternal(t *testing.T) {
	url := testenv.NATS(t)
	coordtest.Run(t, func(t *testing.T) coordtest.Harness { return harness(t, url) })
}

func harness(t *testing.T, url string) coordtest.Harness {
	run := runID()
	o := backend(t, url, run, true)
	dropAtEnd(t, o)
	return coordtest.Harness{
		Orchestrator: func(*testing.T) coordinate.Backend { return o },
		Member:       func(t *testing.T) coordinate.Backend { return backend(t, url, run, false) },
		Inject:       func(t *testing.T, h coordtest.Hostile) bool { return inject(t, url, run, h) },
		// The members and the orchestrator are woken by their
		// subscriptions: the polls are only the fallback, rare enough here
		// that the suite passes on the wake-ups (with Poll at 2s every
		// test but the lost-node ones, where silence is the change and
		// only a poll sees it, ran as fast as with 50ms).
		Options: func(o *coordinate.Options) { o.Poll = time.Second },
	}
}

// names of run's storage, as the package derives them (see names.go).
func runToken(run string) string {
	return strings.NewReplacer("_", "__", ".", "_d").Replace(run)
}

// inject publishes hostile record h into run's bucket or stream over a raw
// connection, behind the backend's back.
func inject(t *testing.T, url, run string, h coordtest.Hostile) bool {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok := runToken(run)
	if h == coordtest.BadNode {
		kv, err := js.KeyValue(ctx, "startline_"+tok)
		require.NoError(t, err)
		_, err = kv.Put(ctx, "node."+base64.RawURLEncoding.EncodeToString([]byte("bad-node")),
			[]byte(`{"id":"bad-node","status":"READY","phase":"p","concurrency":"lots","ready_ns":"yesterday","beat_ns":"now"}`))
		require.NoError(t, err)
		return true
	}
	ev := func(data string) bool {
		_, err := js.Publish(ctx, "startline."+tok+".events", []byte(data))
		if h == coordtest.OversizedReason && err != nil {
			t.Logf("the server refuses a 4 MiB event: %v", err)
			return false
		}
		require.NoError(t, err, "injecting %s", h)
		return true
	}
	switch h {
	case coordtest.UnknownKind:
		return ev(`{"kind":"explode'; DROP TABLE x; --","reason":"r"}`)
	case coordtest.HugeSeq:
		// The stream numbers its messages: a writer cannot choose a seq.
		// The nearest hostile value is a seq in the payload, which the
		// backend does not read.
		return ev(`{"seq":9223372036854775807,"kind":"deafen"}`)
	case coordtest.NoTarget:
		return ev(`{"kind":"scale"}`)
	case coordtest.BeyondMaxScale:
		return ev(`{"kind":"scale","concurrency":1000000}`)
	case coordtest.OversizedReason:
		return ev(`{"kind":"stop","reason":"` + strings.Repeat("x", 4<<20) + `"}`)
	case coordtest.TextSeq:
		return false // the seq is the stream's, never text
	case coordtest.TextTarget:
		return ev(`{"kind":"scale","concurrency":"many"}`)
	}
	return false
}

var _ = natscoord.Redact
