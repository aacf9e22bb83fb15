package coordinate_test

import (
	"fmt"
	"testing"
	"time"

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

// TestFleetStartReports runs the fleet-start benchmark once over Memory and
// checks that it reports every metric it documents, each in range.
func TestFleetStartReports(t *testing.T) {
	r := testing.Benchmark(func(b *testing.B) {
		coordtest.FleetStart(b, 20, func(*testing.B) coordtest.Fleet {
			mem := coordinate.NewMemory()
			return coordtest.Fleet{
				Orchestrator: func(testing.TB) coordinate.Backend { return mem },
				Member:       func(testing.TB, int) (coordinate.Backend, func()) { return mem, nil },
				Meter: func(testing.TB) func() map[string]float64 {
					return func() map[string]float64 { return map[string]float64{"meter/op": 7} }
				},
			}
		})
	})
	if r.N == 0 {
		t.Fatal("the benchmark did not run")
	}
	for _, k := range []string{"ready-ns", "seen-p50-ns", "seen-p99-ns", "seen-max-ns", "skew-ns", "lead-ns", "late", "meter/op"} {
		if _, ok := r.Extra[k]; !ok {
			t.Errorf("no %s among %v", k, r.Extra)
		}
	}
	x := r.Extra
	if x["ready-ns"] <= 0 || x["lead-ns"] < float64(time.Millisecond) || x["skew-ns"] < 0 || x["meter/op"] != 7 {
		t.Errorf("metrics out of range: %v", x)
	}
	if !(x["seen-p50-ns"] <= x["seen-p99-ns"] && x["seen-p99-ns"] <= x["seen-max-ns"]) {
		t.Errorf("seen quantiles out of order: %v", x)
	}
}
