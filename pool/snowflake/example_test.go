package snowflake_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/snowflake"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
)

// Example warms a pool of sessions on a local Snowflake-protocol server,
// resumes the warehouse, and runs a tagged query as worker 0 would in the
// measured window.
func Example() {
	srv := snowflaketest.New(snowflaketest.Options{})
	defer srv.Close()

	p, err := snowflake.New(srv.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword), snowflake.Options{
		Settings: snowflake.Settings{RunID: "run-1", Node: "n1", Warehouse: "bench_wh"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	ctx := context.Background()
	if err := p.Warm(ctx, pool.WarmOptions{Conns: 4}); err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Prepare(ctx); err != nil { // before the start barrier
		fmt.Println(err)
		return
	}
	s, err := p.Session(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	s.(*snowflake.Session).TagPhase(0, "measure", "pair") // what a Runner does before an operation
	n, err := s.Query(ctx, "SELECT 1 UNION ALL SELECT 2")
	if err != nil {
		fmt.Println(err)
		return
	}
	st := srv.Statements()
	last := st[len(st)-1]
	fmt.Println("logins:", len(p.Logins()))
	fmt.Println("rows:", n)
	fmt.Println("warehouse:", last.Warehouse, "running:", srv.WarehouseRunning("bench_wh"))
	fmt.Println("QUERY_TAG:", last.QueryTag)
	// Output:
	// logins: 4
	// rows: 2
	// warehouse: BENCH_WH running: true
	// QUERY_TAG: {"startline":"run-1","node":"n1","worker":0,"phase":"measure","operation":"pair"}
}

// ExampleSettings_Params shows the session parameters every session gets
// at login.
func ExampleSettings_Params() {
	s := snowflake.Settings{RunID: "run-7", Node: "n1", StatementTimeout: 90 * time.Second}
	params := s.Params()
	for _, k := range slices.Sorted(maps.Keys(params)) {
		fmt.Printf("%s=%s\n", k, params[k])
	}
	// Output:
	// QUERY_TAG={"startline":"run-7","node":"n1","phase":"pool.init"}
	// STATEMENT_TIMEOUT_IN_SECONDS=90
	// USE_CACHED_RESULT=FALSE
}
