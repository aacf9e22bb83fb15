package pool_test

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/startline/startline/pool"
)

// An adapter implements Pool.Warm with WarmConns: it supplies only how to
// open, verify and give back one connection.
func ExampleWarmConns() {
	var open, idle atomic.Int64
	err := pool.WarmConns(context.Background(), pool.WarmOptions{Conns: 8, Parallel: 2},
		func(ctx context.Context, i int) (func(), error) {
			open.Add(1) // a real adapter connects and pings here
			return func() { idle.Add(1) }, nil
		})
	fmt.Println(err, open.Load(), idle.Load())
	// Output: <nil> 8 8
}

func ExampleWarmOptions_Validate() {
	fmt.Println(pool.WarmOptions{Conns: 0}.Validate())
	// Output: pool: WarmOptions.Conns: must be positive, got 0
}
