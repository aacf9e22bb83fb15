package loadtest_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// toxiproxy (the fault proxy of internal/faults) leaves a stub of a
		// link blocked for good when the client closes a connection that a
		// Stall holds (its timeout toxic never reads, so the noop stub
		// before it is stuck sending, and the proxy's teardown does not
		// unblock it). That is the proxy's goroutine, not startline's:
		// the stall tests must close stalled connections, since that is
		// what a timed-out or cancelled pgx query does.
		goleak.IgnoreTopFunction("github.com/Shopify/toxiproxy/v2/toxics.(*NoopToxic).Pipe"),
	)
}
