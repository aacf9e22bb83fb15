package sqlsink_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/loadtest/sinktest"
	"github.com/startline/startline/loadtest/sqlsink"
	"github.com/startline/startline/pool/dialect"
)

func TestStreamSQLite(t *testing.T) {
	// Concurrent writers wait for each other, as a database shared by
	// several processes is opened.
	testStream(t, func(t *testing.T) target {
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "stream.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return target{"sqlite", db, dialect.SQLite}
	})
}
func TestStreamPostgres(t *testing.T)  { testStream(t, postgresTarget) }
func TestStreamMariaDB(t *testing.T)   { testStream(t, mariaTarget) }
func TestStreamSnowflake(t *testing.T) { testStream(t, snowflakeTarget) }

// testStream runs the stream conformance suite on the stream table, each
// subtest with tables of its own.
func testStream(t *testing.T, target func(*testing.T) target) {
	sinktest.RunStream(t, sinktest.StreamHarness{New: func(t *testing.T) (loadtest.StreamStore, loadtest.StreamSource) {
		tg := target(t)
		s, err := sqlsink.New(tg.db, tg.d, sqlsink.Options{Prefix: prefix(t, tg), SpillDir: t.TempDir()})
		require.NoError(t, err)
		return s, s
	}})
}
