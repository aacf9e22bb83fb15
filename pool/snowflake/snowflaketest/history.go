package snowflaketest

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of RESULT_LIMIT, as the QUERY_HISTORY functions document them.
const (
	DefaultResultLimit = 100
	MaxResultLimit     = 10000
)

// historyColumns are the columns of the QUERY_HISTORY table functions that
// the server fills, in Snowflake's order, with the types they are served
// as. Times are TIMESTAMP_LTZ with millisecond precision; durations are
// NUMBER milliseconds. Snowflake's output goes on after
// TRANSACTION_BLOCKED_TIME (data transfer, credits, query acceleration,
// hashes...); those columns are not served.
var historyColumns = []struct{ name, decl string }{
	{"QUERY_ID", "VARCHAR"},
	{"QUERY_TEXT", "VARCHAR"},
	{"DATABASE_NAME", "VARCHAR"},
	{"SCHEMA_NAME", "VARCHAR"},
	{"QUERY_TYPE", "VARCHAR"},
	{"SESSION_ID", "NUMBER(38,0)"},
	{"USER_NAME", "VARCHAR"},
	{"ROLE_NAME", "VARCHAR"},
	{"WAREHOUSE_NAME", "VARCHAR"},
	{"WAREHOUSE_SIZE", "VARCHAR"},
	{"WAREHOUSE_TYPE", "VARCHAR"},
	{"CLUSTER_NUMBER", "NUMBER(38,0)"},
	{"QUERY_TAG", "VARCHAR"},
	{"EXECUTION_STATUS", "VARCHAR"},
	{"ERROR_CODE", "VARCHAR"},
	{"ERROR_MESSAGE", "VARCHAR"},
	{"START_TIME", "TIMESTAMP_LTZ(3)"},
	{"END_TIME", "TIMESTAMP_LTZ(3)"},
	{"TOTAL_ELAPSED_TIME", "NUMBER(38,0)"},
	{"BYTES_SCANNED", "NUMBER(38,0)"},
	{"ROWS_PRODUCED", "NUMBER(38,0)"},
	{"COMPILATION_TIME", "NUMBER(38,0)"},
	{"EXECUTION_TIME", "NUMBER(38,0)"},
	{"QUEUED_PROVISIONING_TIME", "NUMBER(38,0)"},
	{"QUEUED_REPAIR_TIME", "NUMBER(38,0)"},
	{"QUEUED_OVERLOAD_TIME", "NUMBER(38,0)"},
	{"TRANSACTION_BLOCKED_TIME", "NUMBER(38,0)"},
}

// millis is d in whole milliseconds, as QUERY_HISTORY reports durations.
func millis(d time.Duration) int64 { return d.Milliseconds() }

// historyRow is one statement as a row of historyColumns, at now (a
// statement still running has no END_TIME and its times so far).
func historyRow(st *Statement, now time.Time) []any {
	end := st.End
	status := st.Status
	exec := st.Execution
	if !st.done {
		end = time.Time{}
		if status == "" {
			status = "RUNNING"
		}
		if !st.execStart.IsZero() && exec == 0 {
			exec = now.Sub(st.execStart)
		}
	}
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	var endTime, cluster any
	total := now.Sub(st.Start)
	if !end.IsZero() {
		endTime, total = end.UTC().Format(canonicalTZ), end.Sub(st.Start)
	}
	if st.Cluster > 0 {
		cluster = int64(st.Cluster)
	}
	var errCode, errMsg any
	if st.Code != "" {
		errCode, errMsg = st.Code, st.Message
	}
	whType := any(nil)
	if st.WarehouseSize != "" {
		whType = "STANDARD"
	}
	return []any{
		st.QueryID, st.SQL, null(st.Database), null(st.Schema), st.QueryType,
		st.Session, st.User, null(st.Role), null(st.Warehouse), null(st.WarehouseSize),
		whType, cluster, st.QueryTag, status,
		errCode, errMsg, st.Start.UTC().Format(canonicalTZ), endTime,
		millis(total), int64(0), st.Rows,
		millis(st.Compilation), millis(exec), millis(st.QueuedProvisioning), int64(0), millis(st.QueuedOverload), int64(0),
	}
}

// historyCall is one call of a QUERY_HISTORY table function in a query.
type historyCall struct {
	fn        string // QUERY_HISTORY, QUERY_HISTORY_BY_SESSION, _BY_WAREHOUSE or _BY_USER
	from, to  int    // the TABLE(...) span in the query
	start     time.Time
	end       time.Time
	limit     int
	session   int64  // _BY_SESSION
	warehouse string // _BY_WAREHOUSE
	user      string // _BY_USER
}

var reHistoryCall = regexp.MustCompile(`(?i)\bTABLE\s*\(\s*(?:(?:"[^"]*"|[A-Za-z_][\w$]*)\s*\.\s*)?(?:"?INFORMATION_SCHEMA"?\s*\.\s*)?(QUERY_HISTORY(?:_BY_SESSION|_BY_WAREHOUSE|_BY_USER)?)\s*\(`)

// maskLiterals returns q with the contents of its string literals blanked,
// so that searches find only SQL.
func maskLiterals(q string) string {
	b := []byte(q)
	for i := 0; i < len(b); i++ {
		if b[i] != '\'' {
			continue
		}
		for j := i + 1; j < len(b); j++ {
			if b[j] == '\'' {
				if j+1 < len(b) && b[j+1] == '\'' {
					b[j], b[j+1] = ' ', ' '
					j++
					continue
				}
				i = j
				break
			}
			b[j] = ' '
			i = j
		}
	}
	return string(b)
}

// findHistoryCalls finds the QUERY_HISTORY calls of q and evaluates their
// arguments for session ss with the statement's bind arguments.
func (s *Server) findHistoryCalls(q string, ss *session, args []any) ([]historyCall, *sqlError) {
	masked := maskLiterals(q)
	var calls []historyCall
	for _, m := range reHistoryCall.FindAllStringSubmatchIndex(masked, -1) {
		open := m[1] // just after the function's "("
		depth, close := 1, -1
		for i := open; i < len(masked) && close < 0; i++ {
			switch masked[i] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					close = i
				}
			}
		}
		if close < 0 {
			return nil, syntaxError(q)
		}
		end := close + 1
		for end < len(masked) && (masked[end] == ' ' || masked[end] == '\t' || masked[end] == '\n' || masked[end] == '\r') {
			end++
		}
		if end >= len(masked) || masked[end] != ')' {
			return nil, syntaxError(q)
		}
		c := historyCall{fn: strings.ToUpper(q[m[2]:m[3]]), from: m[0], to: end + 1, limit: DefaultResultLimit}
		if err := s.historyArgs(&c, q[open:close], ss, args); err != nil {
			return nil, err
		}
		calls = append(calls, c)
	}
	return calls, nil
}

func syntaxError(q string) *sqlError {
	return &sqlError{code: "001003", state: "42000", msg: fmt.Sprintf("SQL compilation error: syntax error in %q", q)}
}

// historyArgs reads a call's NAME => expr arguments: END_TIME_RANGE_START,
// END_TIME_RANGE_END, RESULT_LIMIT, INCLUDE_CLIENT_GENERATED_STATEMENT (no
// statement is client-generated here), and SESSION_ID, WAREHOUSE_NAME or
// USER_NAME for the function that takes it, with their documented
// defaults: CURRENT_SESSION, CURRENT_WAREHOUSE, CURRENT_USER.
func (s *Server) historyArgs(c *historyCall, text string, ss *session, args []any) *sqlError {
	s.mu.Lock()
	c.session, c.warehouse, c.user = ss.id, ss.warehouse, ss.user
	s.mu.Unlock()
	ev := &evaluator{s: s, ss: ss, args: args, now: time.Now()}
	for _, a := range splitTop(text) {
		if strings.TrimSpace(a) == "" {
			continue
		}
		name, expr, ok := strings.Cut(a, "=>")
		name = strings.ToUpper(strings.TrimSpace(name))
		if !ok || name == "" {
			return &sqlError{code: "001008", state: "22023", msg: fmt.Sprintf("SQL compilation error:\n%s takes named arguments (NAME => value), got %q", c.fn, strings.TrimSpace(a))}
		}
		v, err := ev.eval(expr)
		if err != nil {
			return err
		}
		bad := func() *sqlError {
			return &sqlError{code: "001008", state: "22023", msg: fmt.Sprintf("SQL compilation error:\ninvalid value [%v] for parameter '%s'", v, name)}
		}
		switch {
		case name == "END_TIME_RANGE_START" || name == "END_TIME_RANGE_END":
			t, ok := asTime(v)
			if !ok {
				return bad()
			}
			if name == "END_TIME_RANGE_START" {
				c.start = t
			} else {
				c.end = t
			}
		case name == "RESULT_LIMIT":
			n, ok := asInt(v)
			if !ok || n < 1 || n > MaxResultLimit {
				return &sqlError{code: "001008", state: "22023", msg: fmt.Sprintf("SQL compilation error:\ninvalid value [%v] for parameter 'RESULT_LIMIT': want 1 to %d", v, MaxResultLimit)}
			}
			c.limit = int(n)
		case name == "INCLUDE_CLIENT_GENERATED_STATEMENT":
			if _, ok := v.(bool); !ok {
				return bad()
			}
		case name == "SESSION_ID" && c.fn == "QUERY_HISTORY_BY_SESSION":
			n, ok := asInt(v)
			if !ok {
				return bad()
			}
			c.session = n
		case name == "WAREHOUSE_NAME" && c.fn == "QUERY_HISTORY_BY_WAREHOUSE":
			str, ok := v.(string)
			if !ok {
				return bad()
			}
			c.warehouse = normIdent(str)
		case name == "USER_NAME" && c.fn == "QUERY_HISTORY_BY_USER":
			str, ok := v.(string)
			if !ok {
				return bad()
			}
			c.user = str
		default:
			return &sqlError{code: "001008", state: "22023", msg: fmt.Sprintf("SQL compilation error:\ninvalid argument '%s' for function '%s'", name, c.fn)}
		}
	}
	if !c.start.IsZero() && !c.end.IsZero() && c.end.Before(c.start) {
		return &sqlError{code: "001008", state: "22023", msg: "SQL compilation error:\nEND_TIME_RANGE_END is before END_TIME_RANGE_START"}
	}
	return nil
}

// splitTop splits s at the commas outside parentheses and string literals.
func splitTop(s string) []string {
	masked := maskLiterals(s)
	var out []string
	depth, from := 0, 0
	for i := 0; i < len(masked); i++ {
		switch masked[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[from:i])
				from = i + 1
			}
		}
	}
	return append(out, s[from:])
}

// selectHistory returns the rows a call returns, at now: the statements
// whose END_TIME falls in [END_TIME_RANGE_START, END_TIME_RANGE_END] (both
// ends included; with no END_TIME_RANGE_END, statements still running are
// included, as the documentation says), of the call's session, warehouse
// or user; of those, the RESULT_LIMIT with the latest END_TIME, running
// ones first, as documented. They are ordered newest START_TIME first,
// which is how real accounts answer but not a documented guarantee: a
// query that needs an order should say ORDER BY.
func (s *Server) selectHistory(c historyCall, now time.Time) [][]any {
	s.mu.Lock()
	var picked []*Statement
	for _, st := range s.stmts {
		switch {
		case c.fn == "QUERY_HISTORY_BY_SESSION" && st.Session != c.session,
			c.fn == "QUERY_HISTORY_BY_WAREHOUSE" && st.Warehouse != c.warehouse,
			c.fn == "QUERY_HISTORY_BY_USER" && st.User != c.user:
			continue
		}
		if !st.done {
			if c.end.IsZero() {
				picked = append(picked, st)
			}
			continue
		}
		if (!c.start.IsZero() && st.End.Before(c.start)) || (!c.end.IsZero() && st.End.After(c.end)) {
			continue
		}
		picked = append(picked, st)
	}
	// The latest END_TIME first, running ones before any.
	slices.SortStableFunc(picked, func(a, b *Statement) int {
		switch {
		case !a.done && !b.done:
			return 0
		case !a.done:
			return -1
		case !b.done:
			return 1
		}
		return b.End.Compare(a.End)
	})
	picked = picked[:min(len(picked), c.limit)]
	slices.SortStableFunc(picked, func(a, b *Statement) int {
		return cmp.Or(b.Start.Compare(a.Start), strings.Compare(b.QueryID, a.QueryID))
	})
	rows := make([][]any, len(picked))
	for i, st := range picked {
		rows[i] = historyRow(st, now)
	}
	s.mu.Unlock()
	return rows
}

// materializeHistory replaces each QUERY_HISTORY call of q by a temporary
// table that holds its rows, created on conn, so that the rest of the
// query (WHERE on QUERY_TAG or times, ORDER BY, aggregates) runs as SQL.
// The returned function drops the tables.
func (s *Server) materializeHistory(ctx context.Context, conn *sql.Conn, q string, calls []historyCall) (string, func(), *sqlError) {
	var names []string
	drop := func() {
		for _, n := range names {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS temp."+n)
		}
	}
	var cols strings.Builder
	for i, c := range historyColumns {
		if i > 0 {
			cols.WriteString(", ")
		}
		cols.WriteString(c.name + " " + c.decl)
	}
	now := time.Now()
	var b strings.Builder
	last := 0
	for _, c := range calls {
		s.mu.Lock()
		s.histSeq++
		name := fmt.Sprintf(`"QUERY_HISTORY_%d"`, s.histSeq)
		s.mu.Unlock()
		if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE "+name+" ("+cols.String()+")"); err != nil {
			drop()
			return "", nil, mapError(err)
		}
		names = append(names, name)
		if err := insertRows(ctx, conn, "temp."+name, len(historyColumns), s.selectHistory(c, now)); err != nil {
			drop()
			return "", nil, mapError(err)
		}
		b.WriteString(q[last:c.from])
		b.WriteString("temp." + name)
		last = c.to
	}
	b.WriteString(q[last:])
	return b.String(), drop, nil
}

// insertRows inserts rows of n columns into table, many rows per
// statement.
func insertRows(ctx context.Context, conn *sql.Conn, table string, n int, rows [][]any) error {
	const batch = 200 // 200 rows of 27 columns: well below SQLite's limit of bind variables
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
	insert := func(k int) string {
		return "INSERT INTO " + table + " VALUES " + strings.TrimSuffix(strings.Repeat(one+", ", k), ", ")
	}
	var full *sql.Stmt // prepared once for every full batch
	args := make([]any, 0, batch*n)
	for len(rows) > 0 {
		k := min(batch, len(rows))
		args = args[:0]
		for _, r := range rows[:k] {
			args = append(args, r...)
		}
		if k == batch && full == nil {
			if full, err = tx.PrepareContext(ctx, insert(batch)); err != nil {
				return err
			}
			defer full.Close()
		}
		if k == batch {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insert(k), args...)
		}
		if err != nil {
			return err
		}
		rows = rows[k:]
	}
	return tx.Commit()
}

// evaluator computes the constant expressions of table function arguments:
// literals, bind variables, CURRENT_TIMESTAMP() (and SYSDATE, GETDATE,
// LOCALTIMESTAMP), TO_TIMESTAMP[_LTZ|_NTZ|_TZ](x [, scale]), DATEADD(part, n, t)
// (and TIMESTAMPADD), CURRENT_SESSION(), CURRENT_WAREHOUSE(),
// CURRENT_USER(), TRUE, FALSE, and x::type (the type is not checked).
type evaluator struct {
	s    *Server
	ss   *session
	args []any
	now  time.Time
	toks []string
	pos  int
}

func (e *evaluator) eval(expr string) (any, *sqlError) {
	e.toks, e.pos = exprTokens(expr), 0
	v, err := e.expr()
	if err != nil {
		return nil, err
	}
	if e.pos < len(e.toks) {
		return nil, e.fail("unexpected %q", e.toks[e.pos])
	}
	return v, nil
}

func (e *evaluator) fail(format string, a ...any) *sqlError {
	return &sqlError{code: "001003", state: "42000", msg: "SQL compilation error: table function argument: " + fmt.Sprintf(format, a...)}
}

func (e *evaluator) peek() string {
	if e.pos < len(e.toks) {
		return e.toks[e.pos]
	}
	return ""
}

func (e *evaluator) next() string {
	t := e.peek()
	e.pos++
	return t
}

func (e *evaluator) expr() (any, *sqlError) {
	v, err := e.unary()
	if err != nil {
		return nil, err
	}
	for e.peek() == "::" {
		e.next()
		if e.next() == "" {
			return nil, e.fail("a type after ::")
		}
		if e.peek() == "(" { // a precision: TIMESTAMP_LTZ(3)
			for e.pos < len(e.toks) && e.next() != ")" {
			}
		}
	}
	return v, nil
}

func (e *evaluator) unary() (any, *sqlError) {
	if e.peek() == "-" {
		e.next()
		v, err := e.unary()
		if err != nil {
			return nil, err
		}
		switch x := v.(type) {
		case int64:
			return -x, nil
		case float64:
			return -x, nil
		}
		return nil, e.fail("cannot negate %v", v)
	}
	return e.primary()
}

func (e *evaluator) primary() (any, *sqlError) {
	t := e.next()
	switch {
	case t == "":
		return nil, e.fail("missing value")
	case t == "(":
		v, err := e.expr()
		if err != nil {
			return nil, err
		}
		if e.next() != ")" {
			return nil, e.fail("missing )")
		}
		return v, nil
	case t[0] == '\'':
		return literal(t), nil
	case t[0] == '?':
		i, err := strconv.Atoi(t[1:])
		if err != nil || i < 1 || i > len(e.args) {
			return nil, e.fail("bind variable %s has no value", t)
		}
		return e.args[i-1], nil
	case t[0] >= '0' && t[0] <= '9' || t[0] == '.':
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return n, nil
		}
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, e.fail("bad number %s", t)
		}
		return f, nil
	}
	name := strings.ToUpper(t)
	var args []any
	if e.peek() == "(" {
		e.next()
		for e.peek() != ")" {
			if len(args) > 0 {
				if e.next() != "," {
					return nil, e.fail("missing , in %s(...)", name)
				}
			}
			if name == "DATEADD" || name == "TIMESTAMPADD" {
				if len(args) == 0 && isWord(e.peek()) { // the date part, a bare word
					args = append(args, strings.ToUpper(e.next()))
					continue
				}
			}
			v, err := e.expr()
			if err != nil {
				return nil, err
			}
			args = append(args, v)
		}
		e.next()
	}
	return e.call(name, args)
}

func isWord(t string) bool {
	return t != "" && (t[0] == '_' || t[0] >= 'A' && t[0] <= 'Z' || t[0] >= 'a' && t[0] <= 'z')
}

func (e *evaluator) call(name string, args []any) (any, *sqlError) {
	e.s.mu.Lock()
	sid, wh, user := e.ss.id, e.ss.warehouse, e.ss.user
	e.s.mu.Unlock()
	switch name {
	case "TRUE":
		return true, nil
	case "FALSE":
		return false, nil
	case "NULL":
		return nil, nil
	case "CURRENT_TIMESTAMP", "SYSDATE", "GETDATE", "LOCALTIMESTAMP", "SYSTIMESTAMP":
		return e.now, nil
	case "CURRENT_SESSION":
		return sid, nil
	case "CURRENT_WAREHOUSE":
		return wh, nil
	case "CURRENT_USER":
		return user, nil
	case "TO_TIMESTAMP", "TO_TIMESTAMP_LTZ", "TO_TIMESTAMP_NTZ", "TO_TIMESTAMP_TZ":
		if len(args) < 1 {
			return nil, e.fail("%s needs an argument", name)
		}
		if n, isInt := args[0].(int64); isInt && len(args) == 2 {
			// TO_TIMESTAMP_LTZ(n, scale): n units of 10^-scale seconds.
			scale, ok := asInt(args[1])
			if !ok || scale < 0 || scale > 9 {
				return nil, e.fail("%s: scale %v", name, args[1])
			}
			return time.Unix(0, n*pow10[9-scale]).UTC(), nil
		}
		t, ok := asTime(args[0])
		if !ok {
			return nil, convError("timestamp_ltz", args[0])
		}
		return t, nil
	case "DATEADD", "TIMESTAMPADD":
		if len(args) != 3 {
			return nil, e.fail("%s takes 3 arguments", name)
		}
		part, _ := args[0].(string)
		n, ok := asInt(args[1])
		t, tok := asTime(args[2])
		if !ok || !tok {
			return nil, e.fail("%s(%v, %v, %v)", name, args[0], args[1], args[2])
		}
		switch strings.Trim(strings.ToUpper(part), "'") {
		case "YEAR", "YEARS", "Y", "YY", "YYYY":
			return t.AddDate(int(n), 0, 0), nil
		case "MONTH", "MONTHS", "MM", "MON":
			return t.AddDate(0, int(n), 0), nil
		case "WEEK", "WEEKS", "W", "WK":
			return t.AddDate(0, 0, 7*int(n)), nil
		case "DAY", "DAYS", "D", "DD":
			return t.AddDate(0, 0, int(n)), nil
		case "HOUR", "HOURS", "H", "HH", "HR":
			return t.Add(time.Duration(n) * time.Hour), nil
		case "MINUTE", "MINUTES", "M", "MI", "MIN":
			return t.Add(time.Duration(n) * time.Minute), nil
		case "SECOND", "SECONDS", "S", "SEC":
			return t.Add(time.Duration(n) * time.Second), nil
		case "MILLISECOND", "MILLISECONDS", "MS", "MSEC":
			return t.Add(time.Duration(n) * time.Millisecond), nil
		case "MICROSECOND", "MICROSECONDS", "US", "USEC":
			return t.Add(time.Duration(n) * time.Microsecond), nil
		case "NANOSECOND", "NANOSECONDS", "NS", "NSEC":
			return t.Add(time.Duration(n)), nil
		}
		return nil, e.fail("unknown date part %v", args[0])
	}
	return nil, &sqlError{code: "002140", state: "42601", msg: fmt.Sprintf("SQL compilation error:\nUnknown function %s", name)}
}

// exprTokens splits an argument expression into string literals, bind
// variables (?N), numbers, words, "::" and single punctuation.
func exprTokens(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			j := i + 1
			for j < len(s) {
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			out = append(out, s[i:min(j+1, len(s))])
			i = j + 1
		case c == ':' && i+1 < len(s) && s[i+1] == ':':
			out = append(out, "::")
			i += 2
		case c == '?' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '$':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] == '.' || s[j] == '$' || s[j] >= '0' && s[j] <= '9' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z') {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			out = append(out, string(c))
			i++
		}
	}
	return out
}

// asTime reads a time argument: a time, a timestamp's text, or a number
// of seconds since the epoch (milliseconds, microseconds or nanoseconds
// when it is that large, as TO_TIMESTAMP documents for integers).
func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		if t, ok := parseTime(strings.TrimSpace(x)); ok {
			return t, true
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return asTime(n)
		}
	case int64:
		switch {
		case x < 31536000000 && x > -31536000000:
			return time.Unix(x, 0).UTC(), true
		case x < 31536000000000 && x > -31536000000000:
			return time.UnixMilli(x).UTC(), true
		case x < 31536000000000000 && x > -31536000000000000:
			return time.UnixMicro(x).UTC(), true
		}
		return time.Unix(0, x).UTC(), true
	case float64:
		return time.Unix(0, int64(x*1e9)).UTC(), true
	}
	return time.Time{}, false
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}
