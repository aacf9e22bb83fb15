package sqlsink_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/dialect"
)

func TestResultsSQLite(t *testing.T)   { testResults(t, target{"sqlite", sqliteDB(t), dialect.SQLite}) }
func TestResultsPostgres(t *testing.T) { testResults(t, postgresTarget(t)) }
func TestResultsMariaDB(t *testing.T)  { testResults(t, mariaTarget(t)) }

// testResults: the Sink keeps each node's whole result, and is the
// ResultSource loadtest.Collect reads them back from, decoded as written;
// a provisional row (TestStart only) is no result; a result that
// contradicts itself is reported by node and field, the others returned.
func testResults(t *testing.T, tg target) {
	ctx := context.Background()
	p := prefix(t, tg)
	sink, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: p, SpillDir: t.TempDir()})
	require.NoError(t, err)

	a, err := runResult(t, "node-a", []loadtest.Sink{sink}, nil)
	require.NoError(t, err)
	b, err := runResult(t, "node-b", []loadtest.Sink{sink}, nil)
	require.NoError(t, err)
	// node-c has started, not finished: its row is provisional.
	require.NoError(t, sink.TestStart(ctx, loadtest.RunInfo{RunID: "sink-test", Node: "node-c", StartedAt: time.Now()}))

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got, err := loadtest.Collect(cctx, sink, "sink-test", []string{"node-b", "node-a"})
	require.NoError(t, err)
	require.Len(t, got, 2)
	for i, want := range []*loadtest.Result{a, b} {
		assert.Equal(t, want.Node, got[i].Node)
		assert.Equal(t, want.Phases.Measure.Ops, got[i].Phases.Measure.Ops)
		assert.Equal(t, want.Phases.Measure.Histogram.Count(), got[i].Phases.Measure.Histogram.Count())
		assert.Len(t, got[i].Timeline.Marks, len(want.Timeline.Marks))
		assert.Len(t, got[i].Intervals, len(want.Intervals))
	}

	raw, err := sink.Results(ctx, "sink-test", []string{"node-a", "node-c", "nobody"})
	require.NoError(t, err)
	assert.Len(t, raw, 1, "node-c's provisional row holds no result, and nobody has none")
	assert.Contains(t, raw, "node-a")
	none, err := sink.Results(ctx, "other-run", []string{"node-a"})
	require.NoError(t, err)
	assert.Empty(t, none, "another run's results are not this one's")

	// A result whose counts contradict each other.
	bad := &loadtest.Result{RunID: "sink-test", Node: "node-d", StartedAt: time.Unix(1, 0).UTC()}
	bad.Phases.Measure.Ops, bad.Phases.Measure.Errors = 1, 5
	require.NoError(t, sink.Write(ctx, bad))
	sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer scancel()
	got, err = loadtest.Collect(sctx, sink, "sink-test", []string{"node-a", "node-c", "node-d"})
	require.Error(t, err)
	assert.ErrorIs(t, err, loadtest.ErrMissingResults)
	assert.Contains(t, err.Error(), "no result from [node-c]")
	assert.Contains(t, err.Error(), `node "node-d"`)
	assert.Contains(t, err.Error(), "phases.measure.errors")
	require.Len(t, got, 1, "the good result is returned")
	assert.Equal(t, "node-a", got[0].Node)
}

func TestConcurrentWritersSQLite(t *testing.T) {
	// SQLite has one writer at a time: the others wait for it, as a
	// database shared by several processes is opened.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "results.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	testConcurrentWriters(t, target{"sqlite", db, dialect.SQLite})
}
func TestConcurrentWritersPostgres(t *testing.T) { testConcurrentWriters(t, postgresTarget(t)) }
func TestConcurrentWritersMariaDB(t *testing.T)  { testConcurrentWriters(t, mariaTarget(t)) }

// testConcurrentWriters: the nodes of a run write their test starts and
// results at once, as they do after a coordinated start. On InnoDB the
// DELETE before the INSERT makes writers of different nodes deadlock; the
// database rolls one back, and the Sink tries it again: every result is
// written, none spilled.
func testConcurrentWriters(t *testing.T, tg target) {
	ctx := context.Background()
	p := prefix(t, tg)
	sink, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: p, SpillDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, sink.CreateSchema(ctx))
	const n = 8
	var nodes []string
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		node := fmt.Sprintf("node-%d", i)
		nodes = append(nodes, node)
		wg.Go(func() {
			info := loadtest.RunInfo{RunID: "many", Node: node, StartedAt: time.Unix(1, 0).UTC()}
			if errs[i] = sink.TestStart(ctx, info); errs[i] != nil {
				return
			}
			errs[i] = sink.Write(ctx, &loadtest.Result{RunID: "many", Node: node, StartedAt: info.StartedAt})
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "node %d", i)
	}
	got, err := loadtest.Collect(ctx, sink, "many", nodes)
	require.NoError(t, err)
	assert.Len(t, got, n)
}
