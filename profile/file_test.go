package profile_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool/dialect"
	"github.com/startline/startline/profile"
)

func sampleProfile() *profile.Profile {
	return &profile.Profile{Tables: map[string]*profile.Table{
		"orders": {Name: "orders", MinID: -5, MaxID: 1 << 40, HasIDs: true, Values: map[string][]any{
			"qty":     {int64(1), int64(-7), int64(1<<63 - 1)},
			"price":   {2.0, 0.1, -1e300, 3.5e-10},
			"note":    {"plain", "", `quote " and \ and ünïcode`, "12"},
			"data":    {[]byte{0, 1, 0xff}, []byte{}},
			"created": {time.Date(2024, 5, 1, 10, 11, 12, 123456789, time.UTC)},
			"paid":    {true, false},
			"empty":   {},
		}},
		"app.users": {Name: "app.users"},
	}}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profile.json")
	want := sampleProfile()
	require.NoError(t, profile.Save(path, want))
	got, err := profile.Load(path)
	require.NoError(t, err)
	// Types survive: 2.0 stays a float64, "12" a string, bytes and times
	// keep their types.
	assert.Equal(t, want, got)
	assert.IsType(t, float64(0), got.Table("orders").Values["price"][0])
	assert.IsType(t, []byte(nil), got.Table("orders").Values["data"][0])

	// Overwriting replaces the file atomically and leaves no temporary
	// file behind.
	want.Tables["orders"].MaxID = 7
	require.NoError(t, profile.Save(path, want))
	got, err = profile.Load(path)
	require.NoError(t, err)
	assert.Equal(t, int64(7), got.Table("orders").MaxID)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	info, err := entries[0].Info()
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())
}

func TestSaveLoadKeepsTimeZoneInstant(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	at := time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("X", -7*3600))
	require.NoError(t, profile.Save(path, &profile.Profile{Tables: map[string]*profile.Table{
		"t": {Name: "t", Values: map[string][]any{"at": {at}}},
	}}))
	got, err := profile.Load(path)
	require.NoError(t, err)
	v := got.Table("t").Values["at"][0].(time.Time)
	assert.True(t, at.Equal(v), "%v != %v", at, v)
	_, off := v.Zone()
	assert.Equal(t, -7*3600, off)
}

func TestSaveRejectsUnsavableValues(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []any{struct{}{}, []int{1}, nil} {
		err := profile.Save(filepath.Join(dir, "p.json"), &profile.Profile{Tables: map[string]*profile.Table{
			"t": {Name: "t", Values: map[string][]any{"c": {"ok", v}}},
		}})
		assert.ErrorContains(t, err, `profile: save: tables["t"].values["c"][1]`)
	}
	err := profile.Save(filepath.Join(dir, "p.json"), nil)
	assert.Error(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "a failed Save writes nothing")
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.json")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func TestLoadTruncatedReportsPosition(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	require.NoError(t, profile.Save(path, sampleProfile()))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	cut := data[:len(data)/2]
	lines := strings.Split(string(cut), "\n")
	wantPos := "line " + itoa(len(lines)) + ", column " + itoa(len(lines[len(lines)-1])+1)

	_, err = profile.Load(writeFile(t, string(cut)))
	require.ErrorIs(t, err, profile.ErrBadFile)
	assert.ErrorContains(t, err, wantPos)
	assert.ErrorContains(t, err, "truncated")
	assert.ErrorContains(t, err, "p.json")
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestLoadReportsWhereAndWhat(t *testing.T) {
	tests := []struct {
		name, content string
		want          []string
	}{
		{"syntax error", "{\"version\": 1,\n  \"tables\": {\n    \"t\": {\"name\": \"t\",, }}}", []string{"line 3, column 23", "invalid character ','"}},
		{"wrong type", "{\"version\": 1,\n \"tables\": {\"t\": {\"name\": \"t\", \"min_id\": \"x\"}}}", []string{"line 2", "min_id"}},
		{"unknown field", `{"version": 1, "tables": {}, "extra": 1}`, []string{`unknown field "extra"`}},
		{"trailing data", "{\"version\": 1, \"tables\": {}}\n{}", []string{"line 2, column 1", "data after the profile"}},
		{"wrong version", `{"version": 2, "tables": {}}`, []string{"version: 2, want 1"}},
		{"no version", `{"tables": {}}`, []string{"version: 0"}},
		{"no tables", `{"version": 1}`, []string{"tables: missing"}},
		{"empty file", "", []string{"line 1, column 1", "truncated"}},
		{"min above max", `{"version": 1, "tables": {"t": {"name": "t", "min_id": 5, "max_id": 4}}}`, []string{`tables["t"].min_id: 5 is greater than max_id 4`}},
		{"name differs", `{"version": 1, "tables": {"t": {"name": "u"}}}`, []string{`tables["t"].name: "u" differs from its key`}},
		{"bad table name", `{"version": 1, "tables": {"t;drop": {"name": "t;drop"}}}`, []string{`tables["t;drop"]`, "bad identifier"}},
		{"bad column name", `{"version": 1, "tables": {"t": {"name": "t", "values": {"a b": [1]}}}}`, []string{`tables["t"].values`, `"a b"`}},
		{"null table", `{"version": 1, "tables": {"t": null}}`, []string{`tables["t"]: null`}},
		{"null value", `{"version": 1, "tables": {"t": {"name": "t", "values": {"c": [1, null]}}}}`, []string{`tables["t"].values["c"][1]: null`}},
		{"bad time", `{"version": 1, "tables": {"t": {"name": "t", "values": {"c": [{"time": "yesterday"}]}}}}`, []string{`values["c"][0]: time`}},
		{"bad bytes", `{"version": 1, "tables": {"t": {"name": "t", "values": {"c": [{"bytes": "!!"}]}}}}`, []string{`values["c"][0]: bytes`}},
		{"odd object", `{"version": 1, "tables": {"t": {"name": "t", "values": {"c": [{"x": 1}]}}}}`, []string{`values["c"][0]: object`}},
		{"array value", `{"version": 1, "tables": {"t": {"name": "t", "values": {"c": [[1]]}}}}`, []string{`values["c"][0]: unsupported`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := profile.Load(writeFile(t, tt.content))
			require.Error(t, err)
			assert.ErrorIs(t, err, profile.ErrBadFile)
			assert.True(t, strings.HasPrefix(err.Error(), "profile: load "), err.Error())
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
	_, err := profile.Load(filepath.Join(t.TempDir(), "nope.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.NotErrorIs(t, err, profile.ErrBadFile)
}

func TestLoadNumbers(t *testing.T) {
	p, err := profile.Load(writeFile(t, `{"version": 1, "tables": {"t": {"name": "t", "values": {"c": [1, -0, 2.0, 1e2, 9223372036854775807, 9223372036854775808]}}}}`))
	require.NoError(t, err)
	assert.Equal(t, []any{int64(1), int64(0), 2.0, 100.0, int64(1<<63 - 1), 9223372036854775808.0}, p.Table("t").Values["c"])
}

func TestFileProfiler(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	require.NoError(t, profile.Save(path, sampleProfile()))
	fp := profile.FileProfiler{Path: path}

	got, err := fp.Profile(context.Background(), []profile.TableSpec{{Table: "orders", Key: "id", Columns: []string{"qty", "note"}}})
	require.NoError(t, err)
	require.Len(t, got.Tables, 1)
	o := got.Table("orders")
	assert.Equal(t, int64(-5), o.MinID)
	assert.Equal(t, int64(1<<40), o.MaxID)
	assert.Equal(t, sampleProfile().Tables["orders"].Values["qty"], o.Values["qty"])
	assert.Len(t, o.Values, 2, "only the requested columns")

	_, err = fp.Profile(context.Background(), []profile.TableSpec{{Table: "orders"}, {Table: "nosuch"}})
	require.ErrorIs(t, err, profile.ErrMissing)
	assert.ErrorContains(t, err, `tables[1].table: table "nosuch"`)
	assert.ErrorContains(t, err, path)

	_, err = fp.Profile(context.Background(), []profile.TableSpec{{Table: "orders", Columns: []string{"qty", "gone"}}})
	require.ErrorIs(t, err, profile.ErrMissing)
	assert.ErrorContains(t, err, `tables[0].columns[1]: column "gone" of table "orders"`)

	_, err = fp.Profile(context.Background(), []profile.TableSpec{{Table: "app.users", Key: "id"}})
	require.ErrorIs(t, err, profile.ErrMissing)
	assert.ErrorContains(t, err, `tables[0].key: id range of table "app.users"`)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = fp.Profile(ctx, []profile.TableSpec{{Table: "orders"}})
	assert.ErrorIs(t, err, context.Canceled)

	_, err = profile.FileProfiler{Path: filepath.Join(t.TempDir(), "absent.json")}.Profile(context.Background(), nil)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestSQLProfileSavedAndReloaded is the fast path end to end: profile
// SQLite once, save, and get the same profile from the file.
func TestSQLProfileSavedAndReloaded(t *testing.T) {
	db, _ := itemsDB(t)
	specs := []profile.TableSpec{{Table: "items", Key: "id", Columns: []string{"id", "name", "score", "data", "created"}, Sample: 20}}
	live, err := (&profile.SQLProfiler{DB: db, Dialect: dialect.SQLite}).Profile(context.Background(), specs)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "items.json")
	require.NoError(t, profile.Save(path, live))
	saved, err := profile.FileProfiler{Path: path}.Profile(context.Background(), specs)
	require.NoError(t, err)
	require.Equal(t, len(live.Table("items").Values), len(saved.Table("items").Values))
	for col, vs := range live.Table("items").Values {
		for i, v := range vs {
			if tv, ok := v.(time.Time); ok {
				assert.True(t, tv.Equal(saved.Table("items").Values[col][i].(time.Time)))
				continue
			}
			assert.Equal(t, v, saved.Table("items").Values[col][i], "%s[%d]", col, i)
		}
	}
	assert.Equal(t, live.Table("items").MaxID, saved.Table("items").MaxID)
}
