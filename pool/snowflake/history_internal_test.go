package snowflake

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/startline/startline/pool"
	"github.com/startline/startline/pool/snowflake/snowflaketest"
)

// Statements pages through the history within RESULT_LIMIT: with pages of
// 7 rows, 30 statements of this pool among others' are all read, once
// each, over several pages; a cap below them stops the read.
func TestStatementsPages(t *testing.T) {
	defer func(n int) { historyPage = n }(historyPage)
	historyPage = 7

	s := snowflaketest.New(snowflaketest.Options{QueryLatency: snowflaketest.Fixed(2 * time.Millisecond)})
	defer s.Close()
	_, err := s.DB().Exec(`CREATE TABLE "P" ("ID" INTEGER)`)
	require.NoError(t, err)
	cfg := s.Config(snowflaketest.DefaultUser, snowflaketest.DefaultPassword)
	ctx := context.Background()
	open := func(node string) *Pool {
		p, err := New(cfg, Options{Settings: Settings{RunID: "run-pages", Node: node}})
		require.NoError(t, err)
		require.NoError(t, p.Warm(ctx, pool.WarmOptions{Conns: 2}))
		return p
	}
	mine, other := open("mine"), open("other")
	defer mine.Close()
	defer other.Close()
	from := time.Now()
	var sessions []pool.Session
	for _, p := range []*Pool{mine, mine, other} {
		ss, err := p.Session(ctx)
		require.NoError(t, err)
		ss.(*Session).TagPhase(len(sessions), "measure", "read")
		sessions = append(sessions, ss)
	}
	for range 15 {
		for _, ss := range sessions {
			_, err := ss.Query(ctx, `SELECT "ID" FROM "P"`)
			require.NoError(t, err)
		}
	}
	for _, ss := range sessions {
		require.NoError(t, ss.Close())
	}

	h, err := mine.Statements(ctx, pool.HistoryQuery{From: from, To: time.Now(), Limit: 100, Expect: 30})
	require.NoError(t, err)
	assert.False(t, h.Truncated)
	require.Len(t, h.Statements, 30, "the other node's 15 are not this pool's")
	byWorker := map[int]int{}
	for _, st := range h.Statements {
		byWorker[st.Worker]++
	}
	assert.Equal(t, map[int]int{0: 15, 1: 15}, byWorker, "each once")
	pages := 0
	for _, st := range s.Statements() {
		if strings.Contains(st.QueryTag, `"server.history"`) && strings.Contains(st.QueryTag, `"mine"`) {
			pages++
		}
	}
	assert.GreaterOrEqual(t, pages, 45/7, "at least one page per 7 rows of the run")

	h, err = mine.Statements(ctx, pool.HistoryQuery{From: from, To: time.Now(), Limit: 12, Expect: 30})
	require.NoError(t, err)
	assert.True(t, h.Truncated)
	assert.Len(t, h.Statements, 12)
}
