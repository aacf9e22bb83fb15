package snowflake_test

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/faults"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
	"github.com/startline/startline/timing"
)

// TestRunSurvivesSnowflakeFaults runs a load test against the local
// Snowflake-protocol server through a fault proxy, and resets or cuts
// every connection in the middle of the measured window. gosnowflake
// retries its HTTP requests, so a fault shows as failed or slow
// operations; either way the run goes on, nothing measured is lost, and
// the workers work again once the network is back.
func TestRunSurvivesSnowflakeFaults(t *testing.T) {
	for _, fault := range []string{"reset", "cut"} {
		t.Run(fault, func(t *testing.T) {
			s := newServer(t, snowflaketest.Options{})
			proxy := faults.Start(t, s.Addr())
			cfg := s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)
			host, port, err := net.SplitHostPort(proxy.Addr())
			require.NoError(t, err)
			cfg.Host = host
			cfg.Port, err = strconv.Atoi(port)
			require.NoError(t, err)
			p, err := snowflake.New(cfg, snowflake.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, p.Close()) })

			var wg sync.WaitGroup
			r, err := loadtest.New(loadtest.Config{
				Pool: p, Workers: 2, Duration: 3 * time.Second, Interval: 250 * time.Millisecond,
				Workload: loadtest.Workload{Operations: []loadtest.Operation{loadtest.QueryOp("one", 1, "SELECT 1", nil)}},
				Hooks: loadtest.Hooks{PhaseStart: func(i loadtest.PhaseStartInfo) {
					if i.Phase == timing.Measure {
						wg.Go(func() {
							time.Sleep(500 * time.Millisecond)
							if fault == "reset" {
								proxy.Reset(t)
								time.Sleep(300 * time.Millisecond)
								proxy.Clear()
								return
							}
							proxy.Cut()
							time.Sleep(300 * time.Millisecond)
							proxy.Restore(t)
						})
					}
				}},
			})
			require.NoError(t, err)
			res, err := r.Run(context.Background())
			wg.Wait()
			require.NoError(t, err)
			m := res.Phases.Measure
			var ops, errs int64
			var last loadtest.Interval
			for _, iv := range res.Intervals {
				if iv.Phase == timing.Measure {
					ops, errs, last = ops+iv.Ops, errs+iv.Errors, iv
				}
			}
			assert.Equal(t, m.Ops, ops, "every operation is in an interval")
			assert.Equal(t, m.Errors, errs)
			assert.Positive(t, last.Ops, "the workers work again at the end")
			assert.Zero(t, last.Errors)
			if m.Errors == 0 {
				// Retried by gosnowflake: the fault is in the latencies.
				assert.GreaterOrEqual(t, m.Latency.Max, 200*time.Millisecond)
			}
			t.Logf("%s: %d ops, errors %v, max latency %s, fault marks %d", fault, m.Ops, m.ErrorsByKind,
				timing.FormatDuration(m.Latency.Max), len(res.Timeline.Find(timing.Fault)))
		})
	}
}
