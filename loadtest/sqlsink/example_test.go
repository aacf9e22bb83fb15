package sqlsink_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/timing"
)

// Results written to an SQLite database; a run would pass the sink in
// loadtest.Config.Sinks instead of calling it.
func Example() {
	dir, _ := os.MkdirTemp("", "sqlsink")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite3", filepath.Join(dir, "results.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	sink, err := sqlsink.New(db, dialect.SQLite, sqlsink.Options{Prefix: "lt_"})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	anchor := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	info := loadtest.RunInfo{RunID: "run-1", Node: "host-1", StartedAt: anchor, Config: loadtest.RunConfig{Workers: 2}}
	if err := sink.TestStart(ctx, info); err != nil {
		panic(err)
	}
	res := &loadtest.Result{RunID: "run-1", Node: "host-1", StartedAt: anchor, Config: info.Config,
		Timeline: timing.Timeline{Anchor: anchor, Marks: []timing.Mark{
			{Phase: timing.QueryFirst, Worker: 0, Start: 5 * time.Millisecond, End: 7 * time.Millisecond},
			{Phase: timing.QueryFirst, Worker: 1, Start: 5 * time.Millisecond, End: 9 * time.Millisecond},
		}}}
	if err := sink.Write(ctx, res); err != nil {
		panic(err) // a *sqlsink.SpillError names the file the result went to
	}
	var status string
	var marks int
	_ = db.QueryRow("SELECT status FROM lt_test_results WHERE run_id = 'run-1'").Scan(&status)
	_ = db.QueryRow("SELECT count(*) FROM lt_timeline WHERE run_id = 'run-1'").Scan(&marks)
	fmt.Println(status, marks, "marks")
	// Output:
	// done 2 marks
}
