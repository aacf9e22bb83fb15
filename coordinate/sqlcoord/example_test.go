package sqlcoord_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/pool/dialect"
)

// An orchestrator and two nodes share an SQLite file: the nodes wait,
// start together at the published instant, and obey a stop event. On many
// hosts the nodes would be separate processes with the same Options, each
// with a backend of its own over the same tables.
func Example() {
	dir, _ := os.MkdirTemp("", "sqlcoord-example-")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "coord.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ctx := context.Background()
	backend, err := sqlcoord.New(sqlcoord.Options{Tables: sqlcoord.Tables{DB: db, Dialect: dialect.SQLite, Prefix: "demo_"}, RunID: "run-1"})
	if err != nil {
		panic(err)
	}
	opts := coordinate.Options{Poll: 5 * time.Millisecond}
	run, err := coordinate.NewRun(ctx, backend, opts) // the orchestrator creates the run
	if err != nil {
		panic(err)
	}
	nodes, err := coordinate.NewClient(backend, opts) // the nodes' side
	if err != nil {
		panic(err)
	}

	var wg sync.WaitGroup
	lines := make([]string, 2)
	for i := range 2 {
		m, err := nodes.Join(ctx, coordinate.Node{ID: fmt.Sprintf("n%d", i), Concurrency: 4})
		if err != nil {
			panic(err)
		}
		wg.Go(func() {
			defer m.Leave(ctx, nil)
			sig, err := m.Wait(ctx)
			if err != nil {
				lines[i] = err.Error()
				return
			}
			_ = coordinate.SleepUntil(ctx, sig.At)
			e := <-sig.Events
			lines[i] = fmt.Sprintf("n%d started, then got %s event %d (%s)", i, e.Kind, e.Seq, e.Reason)
		})
	}
	sig, err := run.StartWhenReady(ctx, coordinate.Readiness{Nodes: 2}, 20*time.Millisecond)
	if err != nil {
		panic(err)
	}
	// A stop sent before T would withdraw the start: send it once the run
	// has begun.
	_ = coordinate.SleepUntil(ctx, sig.At)
	if _, err := run.Send(ctx, coordinate.Event{Kind: coordinate.EventStop, Reason: "done"}); err != nil {
		panic(err)
	}
	wg.Wait()
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Println("coordinator:", run.Name())
	// Output:
	// n0 started, then got stop event 1 (done)
	// n1 started, then got stop event 1 (done)
	// coordinator: sql
}
