package sqlcoord_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
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
// as text. The worker must skip each with a warning, keep reading, and
// still deliver the valid stop that comes after them.
func TestHostileEventRowsOnSQLite(t *testing.T) {
	b := sqliteBackend(t)
	ctx := context.Background()
	db := open(t, b)
	tb := tables(t, b, db)
	o := orchestrator(t, tb, "run-h")
	var logs syncBuffer
	opts := fast(tb, "run-h")
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	c, err := sqlcoord.New(opts)
	require.NoError(t, err)
	members, sigs, errs, wg := joinAll(t, c, 1)
	_, err = o.StartWhenReady(ctx, coordinate.Readiness{Workers: 1}, 0)
	require.NoError(t, err)
	wg.Wait()
	require.NoError(t, errs[0])

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
	} {
		_, err := db.ExecContext(ctx, ins, "run-h", r.seq, r.kind, r.conc, r.reason)
		require.NoError(t, err, "seq %v", r.seq)
	}
	// The orchestrator knows nothing of them: its next event is seq 1,
	// below them all. Write the valid stop after them instead.
	_, err = db.ExecContext(ctx, ins, "run-h", 20, "stop", nil, "after the junk")
	require.NoError(t, err)

	select {
	case e := <-sigs[0].Events:
		assert.Equal(t, coordinate.Event{Seq: 20, Kind: coordinate.EventStop, Reason: "after the junk"}, e)
	case <-time.After(30 * time.Second):
		t.Fatalf("no event delivered; log:\n%.4000s", logs.String())
	}
	require.NoError(t, members[0].Leave(ctx, nil))
	_, ok := <-sigs[0].Events
	assert.False(t, ok, "Events is closed by Leave")

	out := logs.String()
	for _, seq := range []string{"seq=10", "seq=11", "seq=12", "seq=13", "seq=14", "seq=15"} {
		assert.Contains(t, out, seq)
	}
	assert.Contains(t, out, "unreadable control event", "the text seq is reported")
	// The table survived the kind that was SQL.
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+ev).Scan(&n))
	assert.Equal(t, 8, n)
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
		want := loadtest.ValidRunID(id)
		if (err == nil) != (want == nil) {
			t.Fatalf("run id %q: sqlcoord says %v, loadtest says %v", id, err, want)
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
