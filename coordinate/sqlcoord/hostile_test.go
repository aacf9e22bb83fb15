package sqlcoord_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/sqlcoord"
	"github.com/startline/startline/pool/dialect"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes, for slog output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startLogged joins one node, whose client logs to the returned buffer,
// and starts the run through o: the setup of the tests that then write
// rows behind the orchestrator's back.
func startLogged(t *testing.T, b coordinate.Backend, o *coordinate.Run) (coordinate.Member, coordinate.Signal, *syncBuffer) {
	t.Helper()
	logs := new(syncBuffer)
	opts := fast()
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	m, err := client(t, b, opts).Join(context.Background(), coordinate.Node{ID: "n", Concurrency: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Leave(context.Background(), nil) })
	require.NoError(t, m.SetState(context.Background(), coordinate.State{Status: coordinate.StatusReady}))
	_, err = o.StartWhenReady(context.Background(), coordinate.Readiness{Nodes: 1}, 0)
	require.NoError(t, err)
	sig, err := m.Wait(context.Background())
	require.NoError(t, err)
	return m, sig, logs
}

// TestHostileEventRowsOnSQLite writes rows to the events table behind the
// orchestrator's back, of the kinds a broken or malicious writer makes and
// that SQLite's loose typing lets through: an empty and a giant kind, a
// kind that is SQL, a giant reason, a NULL target, a target as text, a seq
// as text, a fractional seq and target, a target out of MaxScale. The
// member must skip each with a warning (one per row, not one per poll),
// keep reading, and still deliver the valid stop that comes after them and
// the orchestrator's next event.
func TestHostileEventRowsOnSQLite(t *testing.T) {
	db := sqliteDatabase(t)
	ctx := context.Background()
	h := open(t, db)
	tb := tables(t, db, h)
	run := runID()
	b := backend(t, tb, run, nil)
	o := orchestrator(t, b)
	member, sig, logs := startLogged(t, b, o)

	ev, err := db.d.Ident(tb.Prefix + "events")
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
		_, err := h.ExecContext(ctx, ins, run, r.seq, r.kind, r.conc, r.reason)
		require.NoError(t, err, "seq %v", r.seq)
	}
	// The orchestrator knows nothing of them: its next event would be
	// numbered after 19, the last of a known kind. Write the valid stop
	// after them instead.
	_, err = h.ExecContext(ctx, ins, run, 20, "stop", nil, "after the junk")
	require.NoError(t, err)

	select {
	case e := <-sig.Events:
		assert.Equal(t, coordinate.Event{Seq: 20, Kind: coordinate.EventStop, Reason: "after the junk"}, e)
	case <-time.After(30 * time.Second):
		t.Fatalf("no event delivered; log:\n%.4000s", logs.String())
	}
	// The orchestrator numbers after the valid stop it did not send, and
	// the member, which has read the junk again on every poll since, still
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
	assert.Less(t, len(out), 64<<10, "the giant values are not logged whole")
	// The table survived the kind that was SQL.
	var n int
	require.NoError(t, h.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+ev).Scan(&n))
	assert.Equal(t, 16, n)
}

// TestSeqOverflow: a hostile row of a known kind with a huge seq leaves the
// orchestrator no next seq: Send fails with ErrSeqOverflow, it does not
// wrap. MaxInt64-1 still leaves one.
func TestSeqOverflow(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db database) {
		ctx := context.Background()
		h := open(t, db)
		tb := tables(t, db, h)
		run := runID()
		o := orchestrator(t, backend(t, tb, run, nil))
		ev, err := db.d.Ident(tb.Prefix + "events")
		require.NoError(t, err)
		_, err = h.ExecContext(ctx, db.d.Rebind("INSERT INTO "+ev+" (run_id, seq, kind, concurrency, reason, created_ns) VALUES (?, ?, 'scale', 2, '', 0)"),
			run, int64(math.MaxInt64-1))
		require.NoError(t, err)
		sent, err := o.Send(ctx, coordinate.Event{Kind: coordinate.EventScale, Concurrency: 2})
		require.NoError(t, err, "MaxInt64-1 leaves one seq")
		assert.Equal(t, int64(math.MaxInt64), sent.Seq)
		_, err = o.Send(ctx, coordinate.Event{Kind: coordinate.EventStop})
		require.ErrorIs(t, err, sqlcoord.ErrSeqOverflow)
	})
}

// TestBadNodeRowsOnSQLite writes node rows whose integer columns hold text
// or fractions, as SQLite lets them. The orchestrator must skip them with
// one warning each and go on: Nodes, CheckLost and AwaitReady work for the
// good nodes.
func TestBadNodeRowsOnSQLite(t *testing.T) {
	db := sqliteDatabase(t)
	ctx := context.Background()
	h := open(t, db)
	tb := tables(t, db, h)
	run := runID()
	var ologs syncBuffer
	o := orchestrator(t, backend(t, tb, run, nil), func(oo *coordinate.Options) {
		oo.Logger = slog.New(slog.NewTextHandler(&ologs, nil))
	})
	nt, err := db.d.Ident(tb.Prefix + "nodes")
	require.NoError(t, err)
	ins := "INSERT INTO " + nt + ` (run_id, node_id, state, phase, concurrency, joined_ns, ready_ns, beat_ns, seen_ns,
		clock_offset_ns, clock_error_ns, err_text) VALUES (?, ?, ?, 'p', ?, 0, ?, ?, 0, 0, 0, NULL)`
	now := time.Now().UnixNano()
	for _, r := range []struct {
		id, state   string
		conc, ready any
		beat        any
	}{
		{"bad-conc", "READY", "lots", now, now},
		{"bad-frac", "READY", 2.5, now, now},
		{"bad-beat", "READY", 1, now, "yesterday"},
		{"ok-1", "READY", 1, now, now},
	} {
		_, err := h.ExecContext(ctx, ins, run, r.id, r.state, r.conc, r.ready, r.beat)
		require.NoError(t, err, r.id)
	}
	ws, err := o.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, ws, 1)
	assert.Equal(t, "ok-1", ws[0].ID)
	lost, err := o.CheckLost(ctx)
	require.NoError(t, err)
	assert.Empty(t, lost)
	ready, err := o.AwaitReady(ctx, coordinate.Readiness{Nodes: 1})
	require.NoError(t, err)
	require.Len(t, ready, 1)
	out := ologs.String()
	for _, id := range []string{"node=bad-conc", "node=bad-frac", "node=bad-beat"} {
		assert.Equal(t, 1, strings.Count(out, id), "%s is logged once over three reads", id)
	}
	assert.Contains(t, out, "concurrency")
	assert.Contains(t, out, "beat_ns")
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
	h, err := sql.Open("sqlite3", "file:"+f.TempDir()+"/fuzz.db")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	names := []string{"events", "nodes", "runs"}
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
			tb := sqlcoord.Tables{DB: h, Dialect: d, Prefix: prefix}
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
			if got := sqliteTables(t, h); !slices.Equal(got, want) {
				t.Fatalf("prefix %q made tables %q, want %q", prefix, got, want)
			}
			if err := tb.Drop(ctx); err != nil {
				t.Fatalf("prefix %q: dropping the tables: %v", prefix, err)
			}
			if got := sqliteTables(t, h); len(got) != 0 {
				t.Fatalf("prefix %q: tables %q left after Drop", prefix, got)
			}
		}
	})
}

// FuzzRunID checks that the backend accepts exactly the run ids that
// coordinate.ValidRunID accepts (the one rule, which loadtest applies
// too): the id is bound into SQL as a parameter, never spliced.
func FuzzRunID(f *testing.F) {
	for _, s := range []string{"run-1", "", "-x", "a b", "a'b", "a;DROP TABLE x", strings.Repeat("r", 64), strings.Repeat("r", 65), "é", "a\n"} {
		f.Add(s)
	}
	h, err := sql.Open("sqlite3", "file:"+f.TempDir()+"/fuzz.db")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	tb := sqlcoord.Tables{DB: h, Dialect: dialect.SQLite}
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

func sqliteTables(t *testing.T, h *sql.DB) []string {
	t.Helper()
	rows, err := h.Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
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
