package snowflake

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/snowflakedb/gosnowflake"

	"github.com/startline/startline/internal/backoff"
	"github.com/startline/startline/pool"
)

// DefaultHistoryWait is the default of Options.HistoryWait.
const DefaultHistoryWait = 15 * time.Second

// historyPage is every page's RESULT_LIMIT: the QUERY_HISTORY functions'
// maximum. (A variable, so that a test can page through few statements.)
var historyPage = 10000

// historyClockMargin widens the range a Runner asks for, for the
// difference between this host's clock and Snowflake's.
const historyClockMargin = time.Second

// historySQL is the history read: one page of the user's statements that
// ended in a range, newest first. The first page ends at
// CURRENT_TIMESTAMP() (the server's clock: every statement of the run
// ended before the read began); later pages end where the one before
// began. Times are bound as epoch milliseconds through
// TO_TIMESTAMP_LTZ(?, 3), which means the same whatever the session's
// TIMEZONE.
func historySQL(first bool) string {
	end := "TO_TIMESTAMP_LTZ(?, 3)"
	if first {
		end = "CURRENT_TIMESTAMP()"
	}
	return `SELECT QUERY_ID, QUERY_TAG, EXECUTION_STATUS, WAREHOUSE_SIZE, START_TIME, END_TIME,
	TOTAL_ELAPSED_TIME, COMPILATION_TIME, EXECUTION_TIME, QUEUED_PROVISIONING_TIME, QUEUED_OVERLOAD_TIME
	FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY_BY_USER(END_TIME_RANGE_START => TO_TIMESTAMP_LTZ(?, 3),
	END_TIME_RANGE_END => ` + end + `, RESULT_LIMIT => ` + strconv.Itoa(historyPage) + `))`
}

// Statements implements pool.StatementHistory: it reads the statements of
// this pool's workers from INFORMATION_SCHEMA.QUERY_HISTORY_BY_USER (the
// session's user), the latest first, and tells each one's worker, phase
// and operation from its QUERY_TAG. Only the statements whose tag names
// this pool's run and node (Settings.RunID and Settings.Node) and a
// worker are returned: those of other processes of the run, of the
// pool's own setup (tagged worker -1) and of other users' runs are not.
//
// # Paging within RESULT_LIMIT
//
// A QUERY_HISTORY function returns at most RESULT_LIMIT rows (1 to
// 10,000; 100 by default), those with the latest END_TIME in the range,
// before any WHERE applies. So Statements filters in Go, not in SQL: a
// page of 10,000 rows means there may be more, and the next page ends at
// the oldest END_TIME read plus a millisecond (END_TIME is whole
// milliseconds and the range's ends are taken as inclusive), dropping the
// QUERY_IDs already read. It stops when a page comes back short, when it
// passes the range's start, when it holds q.Limit statements of this pool
// (then the history is Truncated: the run's earliest statements, the
// warmup's first, are left unread), or when it has scanned ten times
// q.Limit rows of other statements.
//
// # Lag
//
// Snowflake documents no latency for the Information Schema ("Latency of
// data: None", against 45 minutes to 3 hours for the ACCOUNT_USAGE views:
// "Account Usage", https://docs.snowflake.com/en/sql-reference/account-usage),
// and a QUERY_HISTORY function with END_TIME_RANGE_END returns only
// completed statements. Statements does not take the documentation's word
// for a statement that ended a moment ago: when it reads fewer statements
// than q.Expect (the operations that succeeded), it waits (250 ms, doubling
// to 2 s) and reads again, until the count is reached or
// Options.HistoryWait has passed, and then returns what it read; the
// split's matched count says what was found.
//
// The range starts a second before q.From, for the difference between
// this host's clock and Snowflake's, and no more than the 7 days the
// functions keep; it ends at the server's CURRENT_TIMESTAMP() (q.To is
// not needed: every statement of the run ended before the read began).
func (p *Pool) Statements(ctx context.Context, q pool.HistoryQuery) (pool.History, error) {
	if q.Limit <= 0 {
		return pool.History{}, fmt.Errorf("snowflake: reading the query history: HistoryQuery.Limit must be positive, got %d", q.Limit)
	}
	ctx = gosnowflake.WithQueryTag(ctx, p.settings.QueryTag(-1, "server.history", ""))
	deadline := time.Now().Add(p.opts.HistoryWait)
	pause := backoff.Backoff{Initial: 250 * time.Millisecond, Max: 2 * time.Second}
	for {
		h, err := p.readHistory(ctx, q)
		if err != nil {
			return pool.History{}, err
		}
		if h.Truncated || int64(len(h.Statements)) >= q.Expect || !time.Now().Before(deadline) {
			return h, nil
		}
		if err := pause.Sleep(ctx); err != nil {
			return h, nil // what was read stands; the caller's context ended
		}
	}
}

// readHistory reads the statements of q once, page by page.
func (p *Pool) readHistory(ctx context.Context, q pool.HistoryQuery) (pool.History, error) {
	h := pool.History{Resolution: time.Millisecond}
	from := q.From.Add(-historyClockMargin)
	if week := time.Now().Add(-7*24*time.Hour + time.Minute); from.Before(week) {
		from = week
	}
	prefix := p.settings.tagPrefix()
	seen := map[string]bool{}
	var end time.Time // the next page's END_TIME_RANGE_END; zero: now
	scanned, maxScan := 0, max(10*q.Limit, historyPage)
	for {
		var rows *sql.Rows
		var err error
		if end.IsZero() {
			rows, err = p.db.QueryContext(ctx, historySQL(true), from.UnixMilli())
		} else {
			rows, err = p.db.QueryContext(ctx, historySQL(false), from.UnixMilli(), end.UnixMilli())
		}
		if err != nil {
			return h, fmt.Errorf("snowflake: reading the query history: %w", err)
		}
		n, fresh, oldest, err := p.scanPage(rows, prefix, seen, &h)
		if err != nil {
			return h, fmt.Errorf("snowflake: reading the query history: %w", err)
		}
		scanned += n
		switch {
		case len(h.Statements) >= q.Limit:
			h.Statements, h.Truncated = h.Statements[:q.Limit], true
			return h, nil
		case n < historyPage || oldest.Before(from):
			return h, nil // the range is read
		case fresh == 0 || scanned >= maxScan:
			// A page of nothing new (10,000 statements in one
			// millisecond), or too many other statements to wade through.
			h.Truncated = true
			return h, nil
		}
		end = oldest.Add(time.Millisecond)
	}
}

// scanPage reads one page: it returns the rows read, how many of them were
// new, and the oldest END_TIME; the statements of this pool's workers go
// into h.
func (p *Pool) scanPage(rows *sql.Rows, prefix string, seen map[string]bool, h *pool.History) (n, fresh int, oldest time.Time, err error) {
	defer rows.Close()
	for rows.Next() {
		var (
			id, status              string
			tag, size               sql.NullString
			start                   time.Time
			end                     sql.NullTime
			total, comp, exec, prov int64
			overload                int64
		)
		if err := rows.Scan(&id, &tag, &status, &size, &start, &end, &total, &comp, &exec, &prov, &overload); err != nil {
			return n, fresh, oldest, err
		}
		n++
		if end.Valid && (oldest.IsZero() || end.Time.Before(oldest)) {
			oldest = end.Time
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		fresh++
		if !strings.HasPrefix(tag.String, prefix) {
			continue
		}
		var t queryTag
		if json.Unmarshal([]byte(tag.String), &t) != nil || t.Worker == nil || *t.Worker < 0 || t.Operation == "" {
			continue // the pool's own statements, or a tag not written here
		}
		ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
		failed := status != "SUCCESS"
		h.Statements = append(h.Statements, pool.StatementTiming{
			Worker: *t.Worker, Phase: t.Phase, Operation: t.Operation, Start: start,
			Failed: failed,
			// A statement answered from the result cache ran on no
			// warehouse and executed for no time: QUERY_HISTORY has no
			// column that says so (an assumption, which the local server
			// follows).
			CacheHit:           !failed && !size.Valid && exec == 0,
			QueuedProvisioning: ms(prov), QueuedOverload: ms(overload),
			Compilation: ms(comp), Execution: ms(exec), Elapsed: ms(total),
		})
	}
	if err := rows.Err(); err != nil {
		return n, fresh, oldest, err
	}
	if n > 0 && oldest.IsZero() {
		return n, fresh, oldest, errors.New("END_TIME missing from every row of a page with END_TIME_RANGE_END")
	}
	return n, fresh, oldest, nil
}
