package dialect_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/startline/startline/pool/dialect"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var all = []dialect.Dialect{dialect.Postgres, dialect.MySQL, dialect.SQLite, dialect.Snowflake}

func TestIdentQuotes(t *testing.T) {
	tests := []struct {
		d    dialect.Dialect
		in   string
		want string
	}{
		{dialect.Postgres, "orders", `"orders"`},
		{dialect.Postgres, "App.Orders_2", `"App"."Orders_2"`},
		{dialect.SQLite, "_t1", "`_t1`"},
		{dialect.SQLite, "main.t", "`main`.`t`"},
		{dialect.MySQL, "orders", "`orders`"},
		{dialect.MySQL, "test.orders", "`test`.`orders`"},
		{dialect.Snowflake, "orders", `"ORDERS"`},
		{dialect.Snowflake, "db.Sch.orders_x", `"DB"."SCH"."ORDERS_X"`},
	}
	for _, tt := range tests {
		t.Run(tt.d.Name()+"/"+tt.in, func(t *testing.T) {
			got, err := tt.d.Ident(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestIdentRejectsHostileNames(t *testing.T) {
	tests := []struct {
		name, in, why string
	}{
		{"empty", "", "empty"},
		{"double quote", `a"b`, `'"'`},
		{"closing and injecting", `t"; DROP TABLE x; --`, `'"'`},
		{"backtick", "a`b", "'`'"},
		{"single quote", "a'b", `'\''`},
		{"semicolon", "t;", "';'"},
		{"space", "my table", "' '"},
		{"tab", "a\tb", `'\t'`},
		{"newline", "a\nb", `'\n'`},
		{"nul", "a\x00b", `'\x00'`},
		{"hyphen", "a-b", "'-'"},
		{"paren", "f()", "'('"},
		{"bracket", "[t]", "'['"},
		{"unicode letter", "tablé", "non-ASCII byte 0xc3"},
		{"fullwidth quote", "a＂b", "non-ASCII"},
		{"invalid utf8", "a\xffb", "0xff"},
		{"leading digit", "1t", "starts with digit '1'"},
		{"leading digit in schema part", "s.2t", "part 2 starts with digit"},
		{"leading dot", ".t", "part 1 is empty"},
		{"trailing dot", "t.", "part 2 is empty"},
		{"double dot", "a..b", "part 2 is empty"},
		{"four parts", "a.b.c.d", "more than 3"},
		{"too long", strings.Repeat("a", dialect.MaxIdentLen+1), "129 bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := dialect.ValidIdent(tt.in)
			require.Error(t, err)
			assert.ErrorIs(t, err, dialect.ErrBadIdent)
			assert.Contains(t, err.Error(), tt.why)
			assert.True(t, strings.HasPrefix(err.Error(), "dialect: bad identifier "), err.Error())
			if tt.in != "" {
				// The error names the identifier, quoted so that hostile
				// bytes cannot garble the message.
				assert.Contains(t, err.Error(), `bad identifier "`)
			}
			for _, d := range all {
				q, err := d.Ident(tt.in)
				assert.ErrorIs(t, err, dialect.ErrBadIdent, d.Name())
				assert.Empty(t, q, d.Name())
			}
		})
	}
}

func TestIdentLengthLimitsPerDialect(t *testing.T) {
	limits := map[string]int{"postgres": 63, "mysql": 64, "sqlite": 128, "snowflake": 128}
	for _, d := range all {
		limit := limits[d.Name()]
		_, err := d.Ident(strings.Repeat("x", limit))
		require.NoError(t, err, d.Name())
		_, err = d.Ident("s." + strings.Repeat("x", limit))
		require.NoError(t, err, d.Name())
		_, err = d.Ident(strings.Repeat("x", limit+1))
		require.ErrorIs(t, err, dialect.ErrBadIdent, d.Name())
		// The limit is per part, and the over-long part is named.
		_, err = d.Ident("s." + strings.Repeat("x", limit+1))
		require.ErrorContains(t, err, "part 2", d.Name())
	}
}

func TestZeroDialectRefuses(t *testing.T) {
	var d dialect.Dialect
	_, err := d.Ident("t")
	assert.ErrorIs(t, err, dialect.ErrBadIdent)
	assert.ErrorContains(t, err, "zero Dialect")
	assert.Equal(t, "", d.Name())
}

func TestPlaceholderAndRandom(t *testing.T) {
	assert.Equal(t, "$1", dialect.Postgres.Placeholder(1))
	assert.Equal(t, "$12", dialect.Postgres.Placeholder(12))
	for _, d := range []dialect.Dialect{dialect.MySQL, dialect.SQLite, dialect.Snowflake} {
		assert.Equal(t, "?", d.Placeholder(1), d.Name())
		assert.Equal(t, "?", d.Placeholder(7), d.Name())
	}
	assert.Equal(t, "RANDOM()", dialect.Postgres.Random())
	assert.Equal(t, "RANDOM()", dialect.SQLite.Random())
	assert.Equal(t, "RANDOM()", dialect.Snowflake.Random())
	assert.Equal(t, "RAND()", dialect.MySQL.Random())
}

func TestForDriver(t *testing.T) {
	for driver, want := range map[string]dialect.Dialect{
		"pgx": dialect.Postgres, "pgx/v5": dialect.Postgres, "postgres": dialect.Postgres,
		"sqlite": dialect.SQLite, "sqlite3": dialect.SQLite,
		"mysql":     dialect.MySQL,
		"snowflake": dialect.Snowflake,
	} {
		got, err := dialect.ForDriver(driver)
		require.NoError(t, err, driver)
		assert.Equal(t, want, got, driver)
	}
	_, err := dialect.ForDriver("oracle")
	require.ErrorIs(t, err, dialect.ErrUnknownDriver)
	assert.ErrorContains(t, err, `"oracle"`)
	assert.False(t, errors.Is(err, dialect.ErrBadIdent))
}

// FuzzIdent checks that whatever Ident accepts comes out as delimiter,
// [A-Za-z0-9_] and "." only, with quote characters only around each part,
// and that acceptance agrees with ValidIdent.
func FuzzIdent(f *testing.F) {
	for _, s := range []string{
		"t", "orders", "s.t", "db.s.t", "_", "A_b9", "", `"`, "`", `a"b`, "a`b",
		"a.b.c.d", "1a", "a b", "é", "a;b", "a..b", ".", strings.Repeat("z", 200),
		`x"."y`, "x`.`y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		valid := dialect.ValidIdent(name) == nil
		for _, d := range all {
			q, err := d.Ident(name)
			if err != nil {
				if !errors.Is(err, dialect.ErrBadIdent) {
					t.Fatalf("%s: error %v does not wrap ErrBadIdent", d.Name(), err)
				}
				continue
			}
			if !valid {
				t.Fatalf("%s accepted %q which ValidIdent rejects", d.Name(), name)
			}
			delim := q[:1]
			for i, part := range strings.Split(q, ".") {
				if len(part) < 3 || !strings.HasPrefix(part, delim) || !strings.HasSuffix(part, delim) {
					t.Fatalf("%s: part %d of %q is not delimited by %s", d.Name(), i, q, delim)
				}
				for _, c := range []byte(part[1 : len(part)-1]) {
					ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
					if !ok {
						t.Fatalf("%s: %q holds %q inside a part", d.Name(), q, c)
					}
				}
			}
			if unq := strings.ReplaceAll(q, delim, ""); !strings.EqualFold(unq, name) {
				t.Fatalf("%s: %q does not name %q", d.Name(), q, name)
			}
		}
	})
}

func BenchmarkIdent(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dialect.Postgres.Ident("app.orders"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestType(t *testing.T) {
	for _, tc := range []struct {
		d    dialect.Dialect
		c    dialect.Column
		want string
	}{
		{dialect.Postgres, dialect.ColInt, "BIGINT"},
		{dialect.Snowflake, dialect.ColInt, "BIGINT"},
		{dialect.MySQL, dialect.ColText, "LONGTEXT"},
		{dialect.Snowflake, dialect.ColText, "VARCHAR"},
		{dialect.SQLite, dialect.ColText, "TEXT"},
		{dialect.Postgres, dialect.ColFloat, "DOUBLE PRECISION"},
		{dialect.MySQL, dialect.ColTime, "DATETIME(6)"},
		{dialect.SQLite, dialect.ColTime, "TEXT"},
		{dialect.MySQL, dialect.ColID, "VARCHAR(64)"},
		{dialect.Postgres, dialect.ColName, "VARCHAR(255)"},
		{dialect.Dialect{}, dialect.ColInt, ""},
		{dialect.Postgres, dialect.Column(99), ""},
	} {
		if got := tc.d.Type(tc.c); got != tc.want {
			t.Errorf("%s.Type(%d) = %q, want %q", tc.d, tc.c, got, tc.want)
		}
	}
}

func TestRebind(t *testing.T) {
	q := "UPDATE t SET a = ?, b = 'what?' WHERE c = ? AND d = 'it''s?'"
	if got, want := dialect.Postgres.Rebind(q), "UPDATE t SET a = $1, b = 'what?' WHERE c = $2 AND d = 'it''s?'"; got != want {
		t.Errorf("Postgres.Rebind = %q, want %q", got, want)
	}
	for _, d := range []dialect.Dialect{dialect.MySQL, dialect.SQLite, dialect.Snowflake} {
		if got := d.Rebind(q); got != q {
			t.Errorf("%s.Rebind = %q, want it unchanged", d, got)
		}
	}
}
