package profile_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/internal/testenv"
	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/profile"
)

const itemRows = 10000

// itemsDB creates an SQLite database with table items of itemRows rows,
// ids 101..10100, and returns it with the values of each column by id.
func itemsDB(t testing.TB) (*sql.DB, map[string]map[any]bool) {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "items.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Exec(`CREATE TABLE items (
		id INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		score REAL NOT NULL,
		data BLOB NOT NULL,
		note TEXT,
		created DATETIME NOT NULL
	)`)
	require.NoError(t, err)
	tx, err := db.Begin()
	require.NoError(t, err)
	ins, err := tx.Prepare(`INSERT INTO items (id, name, score, data, note, created) VALUES (?, ?, ?, ?, ?, ?)`)
	require.NoError(t, err)
	seen := map[string]map[any]bool{"id": {}, "name": {}, "score": {}, "data": {}, "note": {}, "created": {}}
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range itemRows {
		id := int64(101 + i)
		name := fmt.Sprintf("item-%05d", i)
		score := float64(i) + 0.25
		data := []byte{byte(i), byte(i >> 8), 0xff}
		var note any // NULL except on every 100th row
		if i%100 == 0 {
			note = fmt.Sprintf("note-%d", i)
			seen["note"][note] = true
		}
		created := base.Add(time.Duration(i) * time.Minute)
		_, err := ins.Exec(id, name, score, data, note, created)
		require.NoError(t, err)
		seen["id"][id], seen["name"][name], seen["score"][score] = true, true, true
		seen["data"][string(data)], seen["created"][created.Unix()] = true, true
	}
	require.NoError(t, ins.Close())
	require.NoError(t, tx.Commit())
	return db, seen
}

func TestSQLProfilerSQLite(t *testing.T) {
	db, seen := itemsDB(t)
	const k = 250
	p := &profile.SQLProfiler{DB: db, Dialect: dialect.SQLite}
	prof, err := p.Profile(context.Background(), []profile.TableSpec{{
		Table: "items", Key: "id", Sample: k,
		Columns: []string{"id", "name", "score", "data", "note", "created"},
	}})
	require.NoError(t, err)
	require.Len(t, prof.Tables, 1)
	tb := prof.Table("items")
	require.NotNil(t, tb)
	assert.Equal(t, "items", tb.Name)
	assert.True(t, tb.HasIDs)
	assert.Equal(t, int64(101), tb.MinID)
	assert.Equal(t, int64(100+itemRows), tb.MaxID)

	// Exactly K values from columns with enough non-NULL rows, of the
	// normalized types, each one a value of the table.
	for _, col := range []string{"id", "name", "score", "data", "created"} {
		vs := tb.Values[col]
		require.Len(t, vs, k, col)
		for _, v := range vs {
			var key any
			switch col {
			case "id":
				require.IsType(t, int64(0), v, col)
				key = v
			case "name":
				require.IsType(t, "", v, col)
				key = v
			case "score":
				require.IsType(t, float64(0), v, col)
				key = v
			case "data":
				require.IsType(t, []byte(nil), v, col)
				key = string(v.([]byte))
			case "created":
				require.IsType(t, time.Time{}, v, col)
				key = v.(time.Time).Unix()
			}
			require.True(t, seen[col][key], "%s: %v is not in the table", col, v)
		}
	}
	// note has 100 non-NULL rows: all of them, no NULLs.
	notes := tb.Values["note"]
	require.Len(t, notes, itemRows/100)
	distinct := map[any]bool{}
	for _, v := range notes {
		require.IsType(t, "", v)
		require.True(t, seen["note"][v], v)
		distinct[v] = true
	}
	assert.Len(t, distinct, itemRows/100, "LIMIT without DISTINCT still returns each row once")

	// The sample is random: two runs almost surely differ (the chance of
	// the same 250 of 10,000 ids in the same order is nil).
	again, err := p.Profile(context.Background(), []profile.TableSpec{{Table: "items", Columns: []string{"id"}, Sample: k}})
	require.NoError(t, err)
	assert.NotEqual(t, tb.Values["id"], again.Table("items").Values["id"])
	assert.False(t, again.Table("items").HasIDs, "no Key, no id range")
}

func TestSQLProfilerDefaultSampleAndEmptyTable(t *testing.T) {
	db, _ := itemsDB(t)
	_, err := db.Exec(`CREATE TABLE empty (id INTEGER PRIMARY KEY, name TEXT)`)
	require.NoError(t, err)
	prof, err := (&profile.SQLProfiler{DB: db, Dialect: dialect.SQLite}).Profile(context.Background(), []profile.TableSpec{
		{Table: "items", Columns: []string{"name"}},
		{Table: "empty", Key: "id", Columns: []string{"name"}},
	})
	require.NoError(t, err)
	assert.Len(t, prof.Table("items").Values["name"], profile.DefaultSample)
	e := prof.Table("empty")
	require.NotNil(t, e)
	assert.False(t, e.HasIDs)
	assert.Zero(t, e.MinID)
	assert.Zero(t, e.MaxID)
	assert.Empty(t, e.Values["name"])
	assert.Contains(t, e.Values, "name", "an empty sample is still recorded")
}

func TestSQLProfilerManyTablesInParallel(t *testing.T) {
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "many.db"))
	require.NoError(t, err)
	defer db.Close()
	var specs []profile.TableSpec
	for i := range 6 {
		name := fmt.Sprintf("t%d", i)
		_, err := db.Exec(fmt.Sprintf(`CREATE TABLE %s (id INTEGER PRIMARY KEY, a TEXT, b INTEGER)`, name))
		require.NoError(t, err)
		// Table ti holds ids 1000*i+1 .. 1000*i+10*(i+1).
		for j := 1; j <= 10*(i+1); j++ {
			_, err := db.Exec(fmt.Sprintf(`INSERT INTO %s VALUES (?, ?, ?)`, name), 1000*i+j, fmt.Sprintf("%s-%d", name, j), i)
			require.NoError(t, err)
		}
		specs = append(specs, profile.TableSpec{Table: name, Key: "id", Columns: []string{"a", "b"}, Sample: 15})
	}
	prof, err := (&profile.SQLProfiler{DB: db, Dialect: dialect.SQLite, Parallel: 3}).Profile(context.Background(), specs)
	require.NoError(t, err)
	require.Len(t, prof.Tables, len(specs))
	for i, s := range specs {
		tb := prof.Table(s.Table)
		require.NotNil(t, tb, s.Table)
		assert.Equal(t, int64(1000*i+1), tb.MinID, s.Table)
		assert.Equal(t, int64(1000*i+10*(i+1)), tb.MaxID, s.Table)
		assert.Len(t, tb.Values["a"], min(15, 10*(i+1)), s.Table)
		for _, v := range tb.Values["a"] {
			assert.Regexp(t, fmt.Sprintf(`^%s-\d+$`, s.Table), v)
		}
		for _, v := range tb.Values["b"] {
			assert.Equal(t, int64(i), v)
		}
	}
}

func TestSQLProfilerRejectsBadSpecsBeforeAnySQL(t *testing.T) {
	// A closed DB fails any query with "sql: database is closed"; getting
	// a SpecError instead shows validation ran first.
	db, err := sql.Open("sqlite3", ":memory:")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	p := &profile.SQLProfiler{DB: db, Dialect: dialect.SQLite}
	good := profile.TableSpec{Table: "items", Key: "id", Columns: []string{"name"}}
	tests := []struct {
		name  string
		spec  profile.TableSpec
		field string
		ident bool
	}{
		{"table injection", profile.TableSpec{Table: `items"; DROP TABLE items; --`}, "tables[1].table", true},
		{"empty table", profile.TableSpec{Table: ""}, "tables[1].table", true},
		{"key with space", profile.TableSpec{Table: "t", Key: "id x"}, "tables[1].key", true},
		{"column leading digit", profile.TableSpec{Table: "t", Columns: []string{"ok", "1col"}}, "tables[1].columns[1]", true},
		{"column unicode", profile.TableSpec{Table: "t", Columns: []string{"naïve"}}, "tables[1].columns[0]", true},
		{"repeated column", profile.TableSpec{Table: "t", Columns: []string{"a", "a"}}, "tables[1].columns[1]", false},
		{"repeated table", profile.TableSpec{Table: "items"}, "tables[1].table", false},
		{"negative sample", profile.TableSpec{Table: "t", Sample: -1}, "tables[1].sample", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Profile(context.Background(), []profile.TableSpec{good, tt.spec})
			require.Error(t, err)
			var se *profile.SpecError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.field, se.Field)
			assert.ErrorIs(t, err, profile.ErrBadSpec)
			assert.Equal(t, tt.ident, errors.Is(err, dialect.ErrBadIdent))
			assert.Contains(t, err.Error(), "profile: "+tt.field+": ")
			assert.NotContains(t, err.Error(), "database is closed")
		})
	}

	_, err = (&profile.SQLProfiler{Dialect: dialect.SQLite}).Profile(context.Background(), []profile.TableSpec{good})
	assert.ErrorContains(t, err, "SQLProfiler.DB")
	_, err = (&profile.SQLProfiler{DB: db}).Profile(context.Background(), []profile.TableSpec{good})
	assert.ErrorContains(t, err, "SQLProfiler.Dialect")
}

func TestSQLProfilerQueryErrorNamesTableAndPhase(t *testing.T) {
	db, _ := itemsDB(t)
	p := &profile.SQLProfiler{DB: db, Dialect: dialect.SQLite}

	// A misspelt column is an error, not (as SQLite does with a
	// double-quoted unknown name) a string literal sampled 1000 times.
	_, err := p.Profile(context.Background(), []profile.TableSpec{{Table: "items", Columns: []string{"nosuch"}}})
	var qe *profile.QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "items", qe.Table)
	assert.Equal(t, profile.PhaseSample, qe.Phase)
	assert.Equal(t, "nosuch", qe.Column)
	assert.ErrorContains(t, err, `profile: table "items": sample of column "nosuch": `)

	_, err = p.Profile(context.Background(), []profile.TableSpec{{Table: "missing", Key: "id"}})
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "missing", qe.Table)
	assert.Equal(t, profile.PhaseRange, qe.Phase)

	// A non-integer key cannot give an id range.
	_, err = p.Profile(context.Background(), []profile.TableSpec{{Table: "items", Key: "name"}})
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, profile.PhaseRange, qe.Phase)
	assert.Equal(t, "name", qe.Column)
}

func TestSQLProfilerCanceledContext(t *testing.T) {
	db, _ := itemsDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&profile.SQLProfiler{DB: db, Dialect: dialect.SQLite}).Profile(ctx, []profile.TableSpec{
		{Table: "items", Key: "id", Columns: []string{"name", "score"}},
	})
	require.ErrorIs(t, err, context.Canceled)
}

// pgDB opens the test PostgreSQL database and creates a uniquely named
// table, dropped at cleanup.
func pgDB(t *testing.T) (*sql.DB, string) {
	t.Helper()
	db, err := sql.Open("pgx", testenv.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	table := fmt.Sprintf("profile_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	_, err = db.Exec(`CREATE TABLE ` + table + ` (
		id bigint PRIMARY KEY,
		name text NOT NULL,
		price numeric(10,2) NOT NULL,
		qty integer NOT NULL,
		score double precision NOT NULL,
		data bytea NOT NULL,
		created timestamptz NOT NULL
	)`)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := db.Exec(`DROP TABLE IF EXISTS ` + table)
		assert.NoError(t, err)
	})
	_, err = db.Exec(`INSERT INTO ` + table + `
		SELECT g, 'name-' || g, g + 0.5, g % 7, g * 1.5, decode(lpad(to_hex(g), 8, '0'), 'hex'),
		       timestamptz '2024-05-01 00:00:00+00' + g * interval '1 minute'
		FROM generate_series(-500, 4499) AS g`)
	require.NoError(t, err)
	return db, table
}

func TestSQLProfilerPostgres(t *testing.T) {
	db, table := pgDB(t)
	schema := "public." + table
	prof, err := (&profile.SQLProfiler{DB: db, Dialect: dialect.Postgres}).Profile(context.Background(), []profile.TableSpec{
		{Table: table, Key: "id", Columns: []string{"name", "price", "qty", "score", "data", "created"}, Sample: 100},
		{Table: schema, Key: "qty", Columns: []string{"id"}, Sample: 10},
	})
	require.NoError(t, err)
	tb := prof.Table(table)
	require.NotNil(t, tb)
	assert.True(t, tb.HasIDs)
	assert.Equal(t, int64(-500), tb.MinID)
	assert.Equal(t, int64(4499), tb.MaxID)
	for col, vs := range tb.Values {
		require.Len(t, vs, 100, col)
	}
	for i := range 100 {
		name := tb.Values["name"][i]
		require.IsType(t, "", name)
		var g int64
		_, err := fmt.Sscanf(name.(string), "name-%d", &g)
		require.NoError(t, err)
		assert.True(t, g >= -500 && g <= 4499, g)
		require.IsType(t, float64(0), tb.Values["price"][i], "numeric is a float64")
		assert.Equal(t, 0.5, abs(tb.Values["price"][i].(float64))-float64(int64(abs(tb.Values["price"][i].(float64)))))
		require.IsType(t, int64(0), tb.Values["qty"][i], "integer is an int64")
		require.IsType(t, float64(0), tb.Values["score"][i])
		require.IsType(t, []byte(nil), tb.Values["data"][i], "bytea stays []byte")
		assert.Len(t, tb.Values["data"][i], 4)
		require.IsType(t, time.Time{}, tb.Values["created"][i])
	}
	q := prof.Table(schema)
	require.NotNil(t, q, "schema-qualified name is the profile key")
	assert.Equal(t, int64(-6), q.MinID, "id %% 7 spans -6..6 (the sign follows the dividend)")
	assert.Equal(t, int64(6), q.MaxID)
	assert.Len(t, q.Values["id"], 10)
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestSQLProfilerPostgresCancelMidQuery(t *testing.T) {
	db, table := pgDB(t)
	// A view that sleeps per row: without cancellation the query would run
	// for an hour.
	view := table + "_slow"
	_, err := db.Exec(`CREATE VIEW ` + view + ` AS SELECT id, pg_sleep(3600) IS NULL AS s FROM ` + table)
	require.NoError(t, err)
	t.Cleanup(func() { db.Exec(`DROP VIEW IF EXISTS ` + view) })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := (&profile.SQLProfiler{DB: db, Dialect: dialect.Postgres}).Profile(ctx, []profile.TableSpec{
			{Table: view, Key: "id"},
		})
		done <- err
	}()
	// Wait until the slow query is running on the server, then cancel.
	require.Eventually(t, func() bool {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' AND state = 'active' AND pid <> pg_backend_pid()`, view).Scan(&n)
		return err == nil && n > 0
	}, time.Minute, 10*time.Millisecond)
	cancel()
	err = <-done
	require.ErrorIs(t, err, context.Canceled)
	var qe *profile.QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, view, qe.Table)
}

// BenchmarkSQLProfilerSQLite profiles the 10,000-row items table: one
// range query and five sample queries of 1000 values each.
func BenchmarkSQLProfilerSQLite(b *testing.B) {
	db, _ := itemsDB(b)
	p := &profile.SQLProfiler{DB: db, Dialect: dialect.SQLite}
	specs := []profile.TableSpec{{Table: "items", Key: "id", Columns: []string{"id", "name", "score", "data", "created"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Profile(context.Background(), specs); err != nil {
			b.Fatal(err)
		}
	}
}
