package sqlcoord_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/pool/dialect"
)

// TestHostileEventRowsOnSQLite writes rows to the events table behind the
// orchestrator's back, of the kinds a broken or malicious writer makes and
// that SQLite's loose typing lets through: an empty and a giant kind, a
// kind that is SQL, a giant reason, a NULL target, a target as text, a seq
// as text, a fractional seq and target, a target out of MaxScale. The
// worker must skip each with a warning (one per row, not one per poll),
// keep reading, and still deliver the valid stop that comes after them and
// the orchestrator's next event.
func TestHostileEventRowsOnSQLite(t *testing.T) {
	b := sqliteBackend(t)
	ctx := context.Background()
	db := open(t, b)
	tb := tables(t, b, db)
	o := orchestrator(t, tb, "run-h")
	member, sig, logs := startLogged(t, tb, o, "run-h")

	ev, err := b.d.Ident(tb.Prefix + "events")
	require.NoError(t, err)
	ins := "INSERT INTO " + ev + " (run_id, seq, kind, concurrency, reason, created_ns) VALUES (?, ?, ?, ?, ?, 0)"
	giant := strings.Repeat("x", 4<<20)
	for _, r := range []struct {
		seq          any
		kind         string
		conc, reason any
	}{
		{10, "", nil, nil},
		{11, giant, 1, nil},
		{12, "stop'); DROP TABLE " + ev + "; --", nil, "r"},
		{13, "scale", nil, giant},
		{14, "scale", 0, nil},
		{15, "SCALE", 2, nil}, // kinds are case-sensitive
		{"not-a-seq", "stop", nil, "text seq"},
		{"many", "stop", nil, "text seq"},
		{2.5, "stop", nil, "fractional seq"}, // sorts first: read before all
		{"10.5", "stop", nil, "fractional seq as text"},
		{16, "scale", "many", nil},
		{17, "scale", 2.5, nil},
		{18, "scale", "10.5", nil},
		{19, "scale", 1_000_000, nil}, // above MaxScale
	} {
		_, err := db.ExecContext(ctx, ins, "run-h", r.seq, r.kind, r.conc, r.reason)
		require.NoError(t, err, "seq %v", r.seq)
	}
	// The orchestrator knows nothing of them: its next event is seq 1,
	// below them all. Write the valid stop after them instead.
	_, err = db.ExecContext(ctx, ins, "run-h", 20, "stop", nil, "after the junk")
	require.NoError(t, err)

	select {
	case e := <-sig.Events:
		assert.Equal(t, coordinate.Event{Seq: 20, Kind: coordinate.EventStop, Reason: "after the junk"}, e)
	case <-time.After(30 * time.Second):
		t.Fatalf("no event delivered; log:\n%.4000s", logs.String())
	}
	// The orchestrator numbers after the valid stop it did not send, and
	// the worker, which has read the junk again on every poll since, still
	// hears it.
	sent, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 3})
	require.NoError(t, err)
	assert.Equal(t, int64(21), sent.Seq)
	select {
	case e := <-sig.Events:
		assert.Equal(t, coordinate.Event{Seq: 21, Kind: coordinate.EventScale, Concurrency: 3}, e)
	case <-time.After(30 * time.Second):
		t.Fatalf("no second event delivered; log:\n%.4000s", logs.String())
	}
	require.NoError(t, member.Leave(ctx, nil))
	_, ok := <-sig.Events
	assert.False(t, ok, "Events is closed by Leave")

	out := logs.String()
	for _, seq := range []string{"seq=10", "seq=11", "seq=12", "seq=13", "seq=14", "seq=15"} {
		assert.Contains(t, out, seq)
	}
	assert.Contains(t, out, "unreadable control event", "the text seq is reported")
	// Rows above the cursor are read on every poll, but each is logged
	// once: the text seqs sort above every number in SQLite.
	for _, seq := range []string{"seq=not-a-seq", "seq=many", "seq=16 ", "seq=17 ", "seq=18 ", "seq=19 "} {
		assert.Equal(t, 1, strings.Count(out, seq), "%s is logged once", seq)
	}
	assert.Contains(t, out, "not in 1..MaxScale")
	// The table survived the kind that was SQL.
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+ev).Scan(&n))
	assert.Equal(t, 16, n)
}

// TestHugeSeqDoesNotDeafen writes, behind the orchestrator's back, an
// event of an unknown kind with the largest seq there is. The worker must
// not move its cursor to it: the stop the orchestrator sends next (with a
// small seq) is still delivered. A huge seq of a known kind leaves the
// orchestrator no next seq: Send fails with ErrSeqOverflow, not wraps.
func TestHugeSeqDoesNotDeafen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := open(t, b)
		tb := tables(t, b, db)
		o := orchestrator(t, tb, "run-x")
		member, sig, logs := startLogged(t, tb, o, "run-x")

		ev, err := b.d.Ident(tb.Prefix + "events")
		require.NoError(t, err)
		ins := fmt.Sprintf("INSERT INTO %s (run_id, seq, kind, concurrency, reason, created_ns) VALUES (%s, %s, %s, NULL, '', 0)",
			ev, ph(b.d, 1), ph(b.d, 2), ph(b.d, 3))
		_, err = db.ExecContext(ctx, ins, "run-x", int64(math.MaxInt64), "deafen")
		require.NoError(t, err)
		// Let the worker read it before the stop exists, so that the two
		// are not read in one poll (stop first).
		require.Eventually(t, func() bool { return strings.Contains(logs.String(), "unknown kind") },
			30*time.Second, 5*time.Millisecond, "the hostile row is read and skipped")

		sent, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop, Reason: "still heard"})
		require.NoError(t, err)
		assert.Equal(t, int64(1), sent.Seq, "the junk kind's seq does not push the numbering")
		select {
		case e := <-sig.Events:
			assert.Equal(t, coordinate.Event{Seq: 1, Kind: coordinate.EventStop, Reason: "still heard"}, e)
		case <-time.After(30 * time.Second):
			t.Fatalf("the stop was not delivered; log:\n%.4000s", logs.String())
		}
		require.NoError(t, member.Leave(ctx, nil))
		assert.Equal(t, 1, strings.Count(logs.String(), "unknown kind"), "the row is logged once, not per poll")

		_, err = db.ExecContext(ctx, "DELETE FROM "+ev+" WHERE kind = 'deafen'")
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, ins, "run-x", int64(math.MaxInt64-1), "scale")
		require.NoError(t, err)
		_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 2})
		require.NoError(t, err, "MaxInt64-1 leaves one seq")
		_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
		require.ErrorIs(t, err, sqlcoord.ErrSeqOverflow)
	})
}

// TestBadWorkerRowsOnSQLite writes worker rows whose integer columns hold
// text or fractions, as SQLite lets them. The orchestrator must skip them
// with one warning each and go on: Workers, CheckLost, AwaitReady and
// Collect work for the good workers. A stored result whose counts
// contradict each other is reported by worker and field, without losing
// the other workers' results.
func TestBadWorkerRowsOnSQLite(t *testing.T) {
	b := sqliteBackend(t)
	ctx := context.Background()
	db := open(t, b)
	tb := tables(t, b, db)
	var ologs syncBuffer
	o := orchestrator(t, tb, "run-w", func(oo *sqlcoord.OrchestratorOptions) {
		oo.Logger = slog.New(slog.NewTextHandler(&ologs, nil))
	})
	wt, err := b.d.Ident(tb.Prefix + "workers")
	require.NoError(t, err)
	ins := "INSERT INTO " + wt + ` (run_id, worker_id, state, phase, concurrency, joined_ns, ready_ns, beat_ns, seen_ns, test_start_ns,
		clock_offset_ns, clock_error_ns, err_text, result_json) VALUES ('run-w', ?, ?, 'p', ?, 0, ?, ?, 0, 0, 0, 0, NULL, ?)`
	now := time.Now().UnixNano()
	good := func(node string) string {
		data, err := json.Marshal(&loadtest.Result{RunID: "run-w", Node: node, StartedAt: time.Unix(1, 0).UTC()})
		require.NoError(t, err)
		return string(data)
	}
	for _, r := range []struct {
		id, state   string
		conc, ready any
		beat        any
		result      any
	}{
		{"bad-conc", "READY", "lots", now, now, nil},
		{"bad-frac", "READY", 2.5, now, now, nil},
		{"bad-beat", "READY", 1, now, "yesterday", nil},
		{"ok-1", "READY", 1, now, now, nil},
	} {
		_, err := db.ExecContext(ctx, ins, r.id, r.state, r.conc, r.ready, r.beat, r.result)
		require.NoError(t, err, r.id)
	}

	ws, err := o.Workers(ctx)
	require.NoError(t, err)
	require.Len(t, ws, 1)
	assert.Equal(t, "ok-1", ws[0].ID)
	lost, err := o.CheckLost(ctx)
	require.NoError(t, err)
	assert.Empty(t, lost)
	ready, err := o.AwaitReady(ctx, coordinate.Readiness{Workers: 1})
	require.NoError(t, err)
	require.Len(t, ready, 1)
	out := ologs.String()
	for _, id := range []string{"worker=bad-conc", "worker=bad-frac", "worker=bad-beat"} {
		assert.Equal(t, 1, strings.Count(out, id), "%s is logged once over four reads", id)
	}
	assert.Contains(t, out, "concurrency")
	assert.Contains(t, out, "beat_ns")

	// Two workers done: one result good, one contradicting itself.
	set := "UPDATE " + wt + " SET state = 'DONE', result_json = ? WHERE run_id = 'run-w' AND worker_id = ?"
	_, err = db.ExecContext(ctx, set, good("ok-1"), "ok-1")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, ins, "ok-2", "DONE", 1, now, now,
		`{"run_id":"run-w","node":"ok-2","started_at":"2026-01-01T00:00:00Z","phases":{"measure":{"ops":1,"errors":5}}}`)
	require.NoError(t, err)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	results, err := o.Collect(cctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `worker "ok-2"`)
	assert.Contains(t, err.Error(), "phases.measure.errors")
	var de *loadtest.DecodeError
	assert.ErrorAs(t, err, &de, "the decoder's error is wrapped")
	require.Len(t, results, 1, "the good result is returned")
	assert.Equal(t, "ok-1", results[0].Node)
}

// FuzzTablesPrefix gives New arbitrary table prefixes. It must never
// panic; it accepts a prefix exactly when the three table names it makes
// are valid identifiers of the dialect, and rejects the others with an
// error matching ErrInvalid and coordinate.ErrInvalid. On SQLite an
// accepted one-part prefix creates and drops exactly its three tables.
func FuzzTablesPrefix(f *testing.F) {
	for _, s := range []string{"", "startline_", "slt_", "load.sl_", "a.b.c_", "_", "1x_", "a b_",
		"a;DROP TABLE t;--", "a`_", `a"_`, "a'_", "é_", ".", "a..b_", strings.Repeat("p", 58), strings.Repeat("p", 200)} {
		f.Add(s)
	}
	db, err := sql.Open("sqlite", "file:"+f.TempDir()+"/fuzz.db")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	names := []string{"events", "runs", "workers"}
	dialects := []dialect.Dialect{dialect.Postgres, dialect.MySQL, dialect.SQLite, dialect.Snowflake}
	f.Fuzz(func(t *testing.T, prefix string) {
		full := prefix
		if full == "" {
			full = sqlcoord.DefaultPrefix
		}
		for _, d := range dialects {
			valid := true
			for _, n := range names {
				if _, err := d.Ident(full + n); err != nil {
					valid = false
				}
			}
			tb := sqlcoord.Tables{DB: db, Dialect: d, Prefix: prefix}
			_, err := sqlcoord.New(sqlcoord.Options{Tables: tb, RunID: "r"})
			switch {
			case err != nil && valid:
				t.Fatalf("%s: rejected prefix %q that makes valid names: %v", d, prefix, err)
			case err == nil && !valid:
				t.Fatalf("%s: accepted prefix %q that makes a bad name", d, prefix)
			case err != nil && (!errors.Is(err, sqlcoord.ErrInvalid) || !errors.Is(err, coordinate.ErrInvalid) || !strings.Contains(err.Error(), "Tables.Prefix")):
				t.Fatalf("%s: error %q does not match ErrInvalid naming Tables.Prefix", d, err)
			}
			if err != nil || d != dialect.SQLite || strings.Contains(full, ".") {
				continue
			}
			ctx := context.Background()
			if err := tb.Create(ctx); err != nil {
				t.Fatalf("prefix %q: creating the tables: %v", prefix, err)
			}
			var want []string
			for _, n := range names {
				want = append(want, full+n)
			}
			if got := sqliteTables(t, db); !slices.Equal(got, want) {
				t.Fatalf("prefix %q made tables %q, want %q", prefix, got, want)
			}
			if err := tb.Drop(ctx); err != nil {
				t.Fatalf("prefix %q: dropping the tables: %v", prefix, err)
			}
			if got := sqliteTables(t, db); len(got) != 0 {
				t.Fatalf("prefix %q: tables %q left after Drop", prefix, got)
			}
		}
	})
}

// FuzzRunID checks that the coordinator accepts exactly the run ids that
// loadtest accepts: a Runner passes its RunID to the coordinator, and the
// id is bound into SQL as a parameter, never spliced.
func FuzzRunID(f *testing.F) {
	for _, s := range []string{"run-1", "", "-x", "a b", "a'b", "a;DROP TABLE x", strings.Repeat("r", 64), strings.Repeat("r", 65), "é", "a\n"} {
		f.Add(s)
	}
	db, err := sql.Open("sqlite", "file:"+f.TempDir()+"/fuzz.db")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	tb := sqlcoord.Tables{DB: db, Dialect: dialect.SQLite}
	f.Fuzz(func(t *testing.T, id string) {
		_, err := sqlcoord.New(sqlcoord.Options{Tables: tb, RunID: id})
		want := coordinate.ValidRunID(id)
		if (err == nil) != (want == nil) {
			t.Fatalf("run id %q: sqlcoord says %v, coordinate.ValidRunID says %v", id, err, want)
		}
		if err != nil && (!errors.Is(err, sqlcoord.ErrInvalid) || !strings.Contains(err.Error(), "Options.RunID")) {
			t.Fatalf("error %q does not match ErrInvalid naming Options.RunID", err)
		}
	})
}

func sqliteTables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMaxScaleBoundsTargets sets Options.MaxScale and sends scale targets
// above it, before the start (through the run row) and after it (as an
// event): the worker ignores both with a warning, and applies the one
// within the bound.
func TestMaxScaleBoundsTargets(t *testing.T) {
	b := sqliteBackend(t)
	ctx := context.Background()
	db := open(t, b)
	tb := tables(t, b, db)
	o := orchestrator(t, tb, "run-s")
	var logs syncBuffer
	opts := fast(tb, "run-s")
	opts.MaxScale = 100
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	c, err := sqlcoord.New(opts)
	require.NoError(t, err)
	members, sigs, errs, wg := joinAll(t, c, 1)
	_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 101})
	require.NoError(t, err)
	_, err = o.StartWhenReady(ctx, coordinate.Readiness{Workers: 1}, 0)
	require.NoError(t, err)
	wg.Wait()
	require.NoError(t, errs[0])
	assert.Zero(t, sigs[0].Concurrency, "a run-row target above MaxScale is ignored")
	assert.Contains(t, logs.String(), "concurrency=101")

	_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 1_000_000})
	require.NoError(t, err)
	sent, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 100})
	require.NoError(t, err)
	select {
	case e := <-sigs[0].Events:
		assert.Equal(t, coordinate.Event{Seq: sent.Seq, Kind: coordinate.EventScale, Concurrency: 100}, e)
	case <-time.After(30 * time.Second):
		t.Fatalf("no event delivered; log:\n%.4000s", logs.String())
	}
	require.NoError(t, members[0].Leave(ctx, nil))
	assert.Contains(t, logs.String(), "target=1000000")

	opts.MaxScale = -1
	_, err = sqlcoord.New(opts)
	require.ErrorIs(t, err, sqlcoord.ErrInvalid)
	assert.Contains(t, err.Error(), "Options.MaxScale")
}
