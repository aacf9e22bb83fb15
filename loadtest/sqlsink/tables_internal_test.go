package sqlsink

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool/dialect"
)

// Snowflake cannot be reached from the tests; its statements are checked
// as text: upper-cased quoted names, its own types, ? placeholders.
func TestSnowflakeStatements(t *testing.T) {
	tb, err := newTables(dialect.Snowflake, "lt_")
	require.NoError(t, err)
	require.Len(t, tb.ddl, 5)
	assert.True(t, strings.HasPrefix(tb.ddl[0], `CREATE TABLE IF NOT EXISTS "LT_TEST_RESULTS" ("RUN_ID" VARCHAR(64) NOT NULL, `), tb.ddl[0])
	assert.Contains(t, tb.ddl[0], `"STARTED_AT" TIMESTAMP_TZ`)
	assert.Contains(t, tb.ddl[0], `"CONFIG" VARCHAR, `)
	assert.Contains(t, tb.ddl[0], `"MEASURE_THROUGHPUT" FLOAT`)
	assert.Contains(t, tb.ddl[0], `"RESULT_JSON" VARCHAR, PRIMARY KEY ("RUN_ID", "NODE"))`)
	assert.Equal(t, `DELETE FROM "LT_HISTOGRAMS" WHERE "RUN_ID" = ? AND "NODE" = ?`, tb.deletes[3])
	ins := tb.histograms.insert(dialect.Snowflake, 2)
	assert.Equal(t, `INSERT INTO "LT_HISTOGRAMS" ("RUN_ID", "NODE", "PHASE", "OPERATION", "LATENCIES", "HISTOGRAM") VALUES (?,?,?,?,?,?),(?,?,?,?,?,?)`, ins)

	pg, err := newTables(dialect.Postgres, "lt_")
	require.NoError(t, err)
	assert.Equal(t, `INSERT INTO "lt_histograms" ("run_id", "node", "phase", "operation", "latencies", "histogram") VALUES ($1,$2,$3,$4,$5,$6),($7,$8,$9,$10,$11,$12)`,
		pg.histograms.insert(dialect.Postgres, 2))
}

// The stream table's statements in Snowflake's dialect: keyed by run and
// seq first, read from a seq on.
func TestSnowflakeStreamStatements(t *testing.T) {
	tb, err := newTables(dialect.Snowflake, "lt_")
	require.NoError(t, err)
	assert.Equal(t, `CREATE TABLE IF NOT EXISTS "LT_STREAM" ("RUN_ID" VARCHAR(64) NOT NULL, "SEQ" BIGINT NOT NULL, "NODE" VARCHAR(255) NOT NULL, "RECORD" VARCHAR, PRIMARY KEY ("RUN_ID", "SEQ", "NODE"))`, tb.ddl[4])
	assert.Equal(t, `SELECT "RECORD" FROM "LT_STREAM" WHERE "RUN_ID" = ? AND "SEQ" >= ?`, tb.selectRecords)
	assert.Len(t, tb.deletes, 4, "a result written again leaves the stream as it was")
}
