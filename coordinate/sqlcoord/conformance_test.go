package sqlcoord_test

import (
	"context"
	"database/sql"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/startline/startline/coordinate"
	"github.com/startline/startline/coordinate/coordtest"
	"github.com/startline/startline/coordinate/sqlcoord"
)

// TestConformance runs the conformance suite on every database the tables
// support here: SQLite, PostgreSQL and MariaDB. Each Harness is a fresh
// run in one set of tables per database; the nodes share the backend (and
// its connections), as the members of one process do.
func TestConformance(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, db database) {
		h := open(t, db)
		tb := tables(t, db, h)
		require.NoError(t, tb.Create(context.Background()))
		coordtest.Run(t, func(t *testing.T) coordtest.Harness {
			return harness(t, db, tb, runID(), nil)
		})
	})
}

// harness is a fresh run on tb, with notifier n (nil: polled).
func harness(t *testing.T, db database, tb sqlcoord.Tables, run string, n sqlcoord.Notifier) coordtest.Harness {
	b := backend(t, tb, run, n)
	get := func(*testing.T) coordinate.Backend { return b }
	return coordtest.Harness{Orchestrator: get, Member: get, Inject: func(t *testing.T, h coordtest.Hostile) bool {
		return inject(t, db, tb, run, h)
	}}
}

// inject writes hostile record h into run's rows behind the backend's back.
// Only SQLite lets a column hold what its type says it cannot: text in the
// integer columns goes there only.
func inject(t *testing.T, db database, tb sqlcoord.Tables, run string, h coordtest.Hostile) bool {
	t.Helper()
	ctx := context.Background()
	q := func(table string) string {
		name, err := db.d.Ident(tb.Prefix + table)
		require.NoError(t, err)
		return name
	}
	loose := db.d.Name() == "sqlite"
	if h == coordtest.BadNode {
		if !loose {
			return false
		}
		_, err := tb.DB.ExecContext(ctx, db.d.Rebind(`INSERT INTO `+q("nodes")+` (run_id, node_id, state, phase, concurrency, joined_ns, ready_ns, beat_ns, seen_ns,
			clock_offset_ns, clock_error_ns, err_text) VALUES (?, 'bad-node', 'READY', 'p', 'lots', 0, 'yesterday', 'now', 0, 0, 0, NULL)`), run)
		require.NoError(t, err)
		return true
	}
	next := nextSeq(t, tb.DB, db, q("events"), run)
	ev := func(seq, kind, conc, reason any) bool {
		_, err := tb.DB.ExecContext(ctx, db.d.Rebind(`INSERT INTO `+q("events")+` (run_id, seq, kind, concurrency, reason, created_ns) VALUES (?, ?, ?, ?, ?, 0)`),
			run, seq, kind, conc, reason)
		require.NoError(t, err, "injecting %s", h)
		return true
	}
	switch h {
	case coordtest.UnknownKind:
		return ev(next, "explode'; DROP TABLE x; --", 0, "r")
	case coordtest.HugeSeq:
		return ev(int64(math.MaxInt64), "deafen", nil, "")
	case coordtest.NoTarget:
		return ev(next, "scale", nil, nil)
	case coordtest.BeyondMaxScale:
		return ev(next, "scale", 1_000_000, nil)
	case coordtest.OversizedReason:
		return ev(next, "stop", nil, strings.Repeat("x", 4<<20))
	case coordtest.TextSeq:
		return loose && ev("not-a-seq", "stop", nil, "text seq")
	case coordtest.TextTarget:
		return loose && ev(next, "scale", "many", nil)
	}
	return false
}

// nextSeq is one above every integer seq of run's events (but the largest).
func nextSeq(t *testing.T, h *sql.DB, db database, events, run string) int64 {
	t.Helper()
	rows, err := h.Query(db.d.Rebind(`SELECT seq FROM `+events+` WHERE run_id = ?`), run)
	require.NoError(t, err)
	defer rows.Close()
	var top int64
	for rows.Next() {
		var raw any
		require.NoError(t, rows.Scan(&raw))
		var n int64
		switch v := raw.(type) {
		case int64:
			n = v
		case []byte:
			n, _ = strconv.ParseInt(string(v), 10, 64)
		case string:
			n, _ = strconv.ParseInt(v, 10, 64)
		}
		if n < math.MaxInt64 {
			top = max(top, n)
		}
	}
	require.NoError(t, rows.Err())
	return top + 1
}
