package snowflake_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
)

// BenchmarkWarm100 warms 100 sessions against a local server that takes
// 150ms per login, as the reference harness's account did. Serially that is
// 15s; with the default bound (pool.DefaultParallel) it is ceil(100/16)
// waves of one login and one ping. It reports the per-login latency
// distribution beside the time per warm-up.
//
//	go test -run '^$' -bench Warm100 -benchtime 3x -benchmem ./pool/snowflake/
func BenchmarkWarm100(b *testing.B) {
	for _, par := range []int{0, 100} {
		name := "parallel=default"
		if par != 0 {
			name = "parallel=100"
		}
		b.Run(name, func(b *testing.B) {
			s := snowflaketest.New(snowflaketest.Options{LoginLatency: snowflaketest.Fixed(150 * time.Millisecond)})
			defer s.Close()
			var lat []time.Duration
			for range b.N {
				p, err := snowflake.New(s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword), snowflake.Options{})
				require.NoError(b, err)
				require.NoError(b, p.Warm(context.Background(), pool.WarmOptions{Conns: 100, Parallel: par}))
				b.StopTimer()
				for _, l := range p.Logins() {
					lat = append(lat, l.End.Sub(l.Start))
				}
				require.NoError(b, p.Close())
				b.StartTimer()
			}
			slices.Sort(lat)
			q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(q(0.5), "login-p50-ms")
			b.ReportMetric(q(0.99), "login-p99-ms")
			b.ReportMetric(q(1), "login-max-ms")
		})
	}
}
