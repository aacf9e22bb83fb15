package sqlpool

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatementCache(t *testing.T) {
	for _, noPrepare := range []bool{false, true} {
		db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "test.db"))
		require.NoError(t, err)
		p := New(db, Options{NoPrepare: noPrepare})
		ps, err := p.Session(context.Background())
		require.NoError(t, err)
		s := ps.(*Session)
		for range 3 {
			for _, q := range []string{"SELECT 1", "SELECT 1 UNION ALL SELECT 2"} {
				_, err := s.Query(context.Background(), q)
				require.NoError(t, err)
			}
		}
		if noPrepare {
			assert.Empty(t, s.stmts)
		} else {
			assert.Len(t, s.stmts, 2, "one statement per distinct text")
		}
		require.NoError(t, s.Close())
		assert.Nil(t, s.stmts, "statements closed with the session")
		require.NoError(t, p.Close())
	}
}
