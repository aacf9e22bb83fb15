package loadtest_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool"
)

// historyPool is a memPool whose sessions tag their statements and which
// claims a statement history (an empty one): what a Runner does for the
// server's split (tag each operation, keep its trail) without a server.
type historyPool struct{ memPool }

func (p *historyPool) Statements(context.Context, pool.HistoryQuery) (pool.History, error) {
	return pool.History{}, nil
}

func (p *historyPool) Session(ctx context.Context) (pool.Session, error) {
	s, err := p.memPool.Session(ctx)
	return &lastTag{Session: s}, err
}

type lastTag struct {
	pool.Session
	op string
}

func (s *lastTag) TagPhase(_ int, _, op string) { s.op = op }

// BenchmarkRunnerServerSplit is BenchmarkRunner with two no-op operations
// (so that the operation changes from one to the next, as it does in a
// mixed workload), on a plain pool and on one that is a
// pool.StatementHistory: the difference is the hot path's cost of the
// server's split (a tag call when the operation changes, a store into
// the trail). allocs/op must stay 0.
func BenchmarkRunnerServerSplit(b *testing.B) {
	ops := []loadtest.Operation{{Name: "a", Weight: 1, Run: noopOp}, {Name: "b", Weight: 1, Run: noopOp}}
	for _, n := range []int{1, 2} {
		for _, split := range []bool{false, true} {
			name := "plain"
			var p pool.Pool = &memPool{}
			if split {
				name, p = "split", &historyPool{}
			}
			b.Run(name+"/workers="+strconv.Itoa(n), func(b *testing.B) {
				cfg := baseConfig(&memPool{})
				cfg.Pool = p
				cfg.Workload.Operations = ops
				cfg.Workers = n
				cfg.Warmup = 0
				cfg.Duration = benchWindow
				benchRun(b, cfg)
			})
		}
	}
}
