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

// An orchestrator and two workers share an SQLite file: the workers wait,
// start together at the published instant, and obey a stop event. On many
// hosts the workers would be separate processes with the same Options.
func Example() {
	dir, _ := os.MkdirTemp("", "sqlcoord-example-")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "coord.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ctx := context.Background()
	tables := sqlcoord.Tables{DB: db, Dialect: dialect.SQLite, Prefix: "demo_"}

	orch, err := sqlcoord.NewOrchestrator(ctx, sqlcoord.OrchestratorOptions{Tables: tables, RunID: "run-1", Poll: 5 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	coord, err := sqlcoord.New(sqlcoord.Options{Tables: tables, RunID: "run-1", Poll: 5 * time.Millisecond})
	if err != nil {
		panic(err)
	}

	var wg sync.WaitGroup
	lines := make([]string, 2)
	for i := range 2 {
		m, err := coord.Join(ctx, coordinate.Worker{ID: fmt.Sprintf("w%d", i), Concurrency: 4})
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
			lines[i] = fmt.Sprintf("w%d started, then got %s event %d (%s)", i, e.Kind, e.Seq, e.Reason)
		})
	}
	if _, err := orch.StartWhenReady(ctx, coordinate.Readiness{Workers: 2}, 20*time.Millisecond); err != nil {
		panic(err)
	}
	if _, err := orch.Send(ctx, coordinate.Event{Kind: coordinate.EventStop, Reason: "done"}); err != nil {
		panic(err)
	}
	wg.Wait()
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// w0 started, then got stop event 1 (done)
	// w1 started, then got stop event 1 (done)
}
