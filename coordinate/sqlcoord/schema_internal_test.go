package sqlcoord

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool/dialect"
)

// TestStatementsFollowTheDialect: the column types are the dialect's
// (dialect.Type) and so are the placeholders (dialect.Rebind), checked as
// text for Snowflake, which the tests cannot reach, and PostgreSQL.
func TestStatementsFollowTheDialect(t *testing.T) {
	db := new(sql.DB) // never used: compile does not touch the database
	sf, err := Tables{DB: db, Dialect: dialect.Snowflake, Prefix: "lt_"}.compile()
	require.NoError(t, err)
	require.Len(t, sf.createStmts, 3)
	assert.True(t, strings.HasPrefix(sf.createStmts[1], `CREATE TABLE IF NOT EXISTS "LT_NODES" (run_id VARCHAR(64) NOT NULL, node_id VARCHAR(255) NOT NULL`), sf.createStmts[1])
	assert.Contains(t, sf.createStmts[0], "expect VARCHAR, ")
	assert.Contains(t, sf.createStmts[2], "seq BIGINT NOT NULL")
	assert.Contains(t, sf.q.readyNode, "WHERE run_id = ? AND node_id = ? AND EXISTS")

	pg, err := Tables{DB: db, Dialect: dialect.Postgres, Prefix: "lt_"}.compile()
	require.NoError(t, err)
	assert.Contains(t, pg.createStmts[1], "err_text TEXT")
	assert.Equal(t, `UPDATE "lt_nodes" SET beat_ns = $1 WHERE run_id = $2 AND node_id = $3`, pg.q.beatNode)
	assert.Contains(t, pg.q.lostNode, "state NOT IN ('DONE', 'FAILED', 'LOST')", "quoted literals keep their text")

	my, err := Tables{DB: db, Dialect: dialect.MySQL, Prefix: "lt_"}.compile()
	require.NoError(t, err)
	assert.Contains(t, my.createStmts[2], "reason LONGTEXT", "MySQL's TEXT stops at 64 KiB")
}
