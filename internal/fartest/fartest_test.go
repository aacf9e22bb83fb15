package fartest

import "testing"

// TestPaths: the paths lie within the bounds, the first two at their
// extremes, and the same for every call.
func TestPaths(t *testing.T) {
	ps := Paths(8)
	if ps[0].Up != 0 || ps[0].Down != 0 || ps[0].Skew != MaxSkew {
		t.Errorf("node 0: %+v, want no latency and the skew +MaxSkew", ps[0])
	}
	if ps[1].Up != MaxLatency || ps[1].Down != MaxLatency || ps[1].Skew != -MaxSkew {
		t.Errorf("node 1: %+v, want MaxLatency each way and the skew -MaxSkew", ps[1])
	}
	distinct := map[Path]bool{}
	for i, p := range ps {
		if p.Up < 0 || p.Up > MaxLatency || p.Down < 0 || p.Down > MaxLatency || p.Skew.Abs() > MaxSkew || p.Jitter > min(p.Up, p.Down)/4 {
			t.Errorf("node %d: %+v out of bounds", i, p)
		}
		distinct[p] = true
	}
	if len(distinct) < len(ps) {
		t.Errorf("only %d distinct paths of %d", len(distinct), len(ps))
	}
	again := Paths(8)
	for i := range ps {
		if ps[i] != again[i] {
			t.Errorf("node %d: %+v, then %+v", i, ps[i], again[i])
		}
	}
}
