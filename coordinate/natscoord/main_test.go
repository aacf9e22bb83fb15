package natscoord_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/coordinate/natscoord"
	"github.com/startline/startline/coordinate/natscoord/natsembed"
)

// embedded is the server most tests share; tests that stop their server
// start their own.
var embedded *natsembed.Server

func TestMain(m *testing.M) {
	var err error
	embedded, err = natsembed.Start(natsembed.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	embedded.Stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var runs atomic.Int64

// runID returns a run id no other test of this process (nor another
// process on a shared server) uses.
func runID() string {
	return fmt.Sprintf("run-%d-%d.%d", os.Getpid(), time.Now().UnixNano()%1e9, runs.Add(1))
}

// backend returns a Backend of run on url with its own connection, closed
// (and, with drop, the run's storage deleted) when the test ends.
func backend(t testing.TB, url, run string, serveClock bool) *natscoord.Backend {
	t.Helper()
	b, err := natscoord.New(natscoord.Options{URL: url, RunID: run, ServeClock: serveClock, Timeout: 10 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b
}

// dropAtEnd deletes the run's storage when the test ends.
func dropAtEnd(t testing.TB, b *natscoord.Backend) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Drop(ctx); err != nil {
			t.Logf("dropping the run: %v", err)
		}
	})
}
