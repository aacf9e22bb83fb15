package dialect_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool/dialect"
)

func TestNowMicrosForEveryDialect(t *testing.T) {
	for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL, dialect.SQLite, dialect.Snowflake} {
		expr, res := d.NowMicros()
		assert.NotEmpty(t, expr, d.Name())
		assert.Positive(t, res, d.Name())
	}
	expr, res := dialect.Dialect{}.NowMicros()
	assert.Empty(t, expr)
	assert.Zero(t, res)
}

// TestNowMicrosSQLite reads SQLite's clock, which is this host's: it must
// fall between two local readings, widened by its millisecond resolution.
func TestNowMicrosSQLite(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	require.NoError(t, err)
	defer db.Close()
	expr, res := dialect.SQLite.NowMicros()
	before := time.Now()
	var micros int64
	require.NoError(t, db.QueryRowContext(context.Background(), "SELECT "+expr).Scan(&micros))
	after := time.Now()
	got := time.UnixMicro(micros)
	assert.False(t, got.Before(before.Add(-res)), "db %s, local before %s", got, before)
	assert.False(t, got.After(after.Add(res)), "db %s, local after %s", got, after)
}
