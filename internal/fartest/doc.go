// Package fartest simulates, in one process, a fleet of hosts that are far
// apart and whose clocks disagree: each node reaches the coordination
// server through a fault proxy of its own (internal/faults) that adds a
// latency of its own each way, with jitter, and runs with a wall clock
// skewed by coordinate.Options.ClockSkew. The kernel here has no netem, so
// the proxy shapes the latency, on loopback.
//
// [Test] asserts what the kit promises such a fleet: every node's measured
// clock offset recovers its injected skew within the bound it states
// (round trip/2 plus the reference clock's resolution), and no node starts
// before T on the orchestrator's clock less the bounds. [Benchmark] runs
// the same setup and reports how far after T the last node started. Both
// are generic over a [Harness], so that every backend with a server
// (natscoord, sqlcoord) runs them.
package fartest
