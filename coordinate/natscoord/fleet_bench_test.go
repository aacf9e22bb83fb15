package natscoord_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/coordtest"
	"github.com/startline/startline/coordinate/natscoord"
)

// BenchmarkFleetStart is the fleet-start benchmark on the embedded server:
// every member a node with a connection of its own, woken by its
// subscription (the kit's polls, once a second here, only the fallback),
// beating every second as by default; the orchestrator serves the clock.
// Server and members share this process, and its cores.
func BenchmarkFleetStart(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			coordtest.FleetStart(b, n, func(b *testing.B) coordtest.Fleet {
				run := runID()
				return coordtest.Fleet{
					Orchestrator: func(tb testing.TB) coordinate.Backend {
						o := backend(tb, embedded.ClientURL(), run, true)
						dropAtEnd(tb, o)
						return o
					},
					Member: func(tb testing.TB, i int) (coordinate.Backend, func()) {
						m, err := natscoord.New(natscoord.Options{URL: embedded.ClientURL(), RunID: run, Timeout: 30 * time.Second})
						if err != nil {
							tb.Fatalf("member %d: %v", i, err)
						}
						return m, func() { m.Close() }
					},
					Options: func(o *coordinate.Options) { o.Poll = time.Second },
					Floors:  floors[n],
				}
			})
		})
	}
}

// floors are issue 12's floors of the fleet start, logged against the
// figures (never failed on).
var floors = map[int]map[string]float64{
	1000: {"seen-p99-ns": 50e6, "ready-ns": 2e9, "skew-ns": 5e6},
}
