package sqlsink_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/dialect"
)

// FuzzPrefix gives New arbitrary table prefixes. It must never panic; it
// accepts a prefix exactly when every table name it makes is a valid
// identifier of the dialect, and rejects the others with an error wrapping
// dialect.ErrBadIdent. On SQLite an accepted one-part prefix creates and
// drops exactly the four tables it names, whatever the prefix holds: the
// names reach SQL quoted.
func FuzzPrefix(f *testing.F) {
	for _, s := range []string{"", "startline_", "lt_", "results.lt_", "a.b.c_", "x", "_",
		"1x_", "a b_", "a;DROP TABLE t;--", "a`_", `a"_`, "a'_", "é_", ".", "a..b_",
		"SELECT_", "TABLE", strings.Repeat("p", 60), strings.Repeat("p", 200)} {
		f.Add(s)
	}
	db, err := sql.Open("sqlite3", "file:"+f.TempDir()+"/fuzz.db?_txlock=deferred")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	names := []string{sqlsink.TestResults, sqlsink.Intervals, sqlsink.Timeline, sqlsink.Histograms, sqlsink.Stream}
	dialects := []dialect.Dialect{dialect.Postgres, dialect.MySQL, dialect.SQLite, dialect.Snowflake}
	f.Fuzz(func(t *testing.T, prefix string) {
		full := prefix
		if full == "" {
			full = sqlsink.DefaultPrefix
		}
		for _, d := range dialects {
			valid := true
			for _, n := range names {
				if _, err := d.Ident(full + n); err != nil {
					valid = false
				}
			}
			s, err := sqlsink.New(db, d, sqlsink.Options{Prefix: prefix})
			switch {
			case err != nil && valid:
				t.Fatalf("%s: rejected prefix %q that makes valid names: %v", d, prefix, err)
			case err == nil && !valid:
				t.Fatalf("%s: accepted prefix %q that makes a bad name", d, prefix)
			case err != nil && (!errors.Is(err, dialect.ErrBadIdent) || !strings.HasPrefix(err.Error(), "sqlsink: ")):
				t.Fatalf("%s: error %q is not a sqlsink error wrapping dialect.ErrBadIdent", d, err)
			}
			if err != nil || d != dialect.SQLite || strings.Contains(full, ".") {
				continue
			}
			ctx := context.Background()
			if err := s.CreateSchema(ctx); err != nil {
				t.Fatalf("prefix %q: creating the tables: %v", prefix, err)
			}
			var want []string
			for _, n := range names {
				want = append(want, full+n)
			}
			slices.Sort(want)
			if got := tableNames(t, db); !slices.Equal(got, want) {
				t.Fatalf("prefix %q made tables %q, want %q", prefix, got, want)
			}
			if err := sqlsink.DropTables(ctx, db, d, prefix); err != nil {
				t.Fatalf("prefix %q: dropping the tables: %v", prefix, err)
			}
			if got := tableNames(t, db); len(got) != 0 {
				t.Fatalf("prefix %q: tables %q left after DropTables", prefix, got)
			}
		}
	})
}

func tableNames(t *testing.T, db *sql.DB) []string {
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
