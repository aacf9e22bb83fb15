// Package coordtest is the conformance suite of coordinator backends, as
// testing/slogtest is for slog handlers: a backend's tests hand [Run] a
// function that makes a [Harness] for a fresh run, and the suite runs the
// kit (coordinate.Client and coordinate.Run) over it through every rule of
// the barrier:
//
//   - a barrier of N nodes, each on its own backend value (connection);
//     the scheduled start: no member returns from Wait and SleepUntil
//     before T, within the clocks' bounds;
//   - readiness: all, quorum after a deadline, the error naming who is
//     ready and who is missing (and how many never joined), nodes that
//     left, a cancelled wait;
//   - control events before the start (scale, stop, abort) and after it,
//     delivered in order, exactly once, with concurrent senders;
//   - a lost node under each policy: while the orchestrator waits for
//     readiness, after T is published but before T (abort withdraws the
//     start, every Wait fails naming the lost node), and after T;
//   - a late joiner refused, and a node that became ready too late;
//   - the wait timeout naming who was missing;
//   - the clock offset within its bound;
//   - hostile records ignored and logged once (see [Hostile]), scale
//     targets beyond MaxScale, duplicate node IDs, bad arguments;
//   - cancellation, and no goroutine of a member outliving Leave.
//
// [FleetStart] is the fleet-start benchmark over the same kind of
// backend: N members each on a backend of its own, the orchestrator
// waiting for all and publishing T, reporting how long readiness took,
// how soon the members saw the start and how far apart they began.
//
// The suite imports only the standard library and package coordinate. It
// asserts orders, counts and lower bounds, never how fast the machine is:
// every wait has a generous guard against a hang, and no more.
//
// A backend's test:
//
//	func TestConformance(t *testing.T) {
//		coordtest.Run(t, func(t *testing.T) coordtest.Harness {
//			b := newBackendForAFreshRun(t)
//			return coordtest.Harness{
//				Orchestrator: func(t *testing.T) coordinate.Backend { return b },
//				Member:       func(t *testing.T) coordinate.Backend { return b },
//				Inject:       func(t *testing.T, h coordtest.Hostile) bool { ... },
//			}
//		})
//	}
package coordtest
