package coordinate_test

import (
	"fmt"
	"testing"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/coordtest"
)

// BenchmarkFleetStart is the fleet-start benchmark over Memory: the kit's
// own cost, without a network, for the backends' figures to be read
// against.
func BenchmarkFleetStart(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			coordtest.FleetStart(b, n, func(*testing.B) coordtest.Fleet {
				mem := coordinate.NewMemory()
				return coordtest.Fleet{
					Orchestrator: func(testing.TB) coordinate.Backend { return mem },
					Member:       func(testing.TB, int) (coordinate.Backend, func()) { return mem, nil },
				}
			})
		})
	}
}
