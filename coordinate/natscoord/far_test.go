package natscoord_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/internal/fartest"
)

// far is the far-apart fleet on the embedded server: the orchestrator
// serves the reference clock on a direct connection, each node reaches
// the server through a proxy of its own.
func far() fartest.Harness {
	return fartest.Harness{
		Upstream: fmt.Sprintf("127.0.0.1:%d", embedded.Port()),
		Run: func(tb testing.TB) (coordinate.Backend, func(testing.TB, string) (coordinate.Backend, func())) {
			run := runID()
			o := backend(tb, embedded.ClientURL(), run, true)
			dropAtEnd(tb, o)
			return o, func(tb testing.TB, addr string) (coordinate.Backend, func()) {
				return backend(tb, "nats://"+addr, run, false), nil
			}
		},
		// The nodes are woken by their subscriptions: the polls are only
		// the fallback.
		Options: func(o *coordinate.Options) { o.Poll = time.Second },
	}
}

// TestFarFleet: eight nodes, each 0 to 20ms away each way with jitter and
// its clock up to ±500ms off, measure their skews within their bounds and
// none starts before T less its bound.
func TestFarFleet(t *testing.T) { fartest.Test(t, 8, far()) }

// BenchmarkFarFleet: how far after T the last of eight far nodes starts.
func BenchmarkFarFleet(b *testing.B) { fartest.Benchmark(b, 8, far()) }
