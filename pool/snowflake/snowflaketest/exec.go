package snowflaketest

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// Statement type ids the driver tells results apart by: a SELECT's rows are
// read, a DML's first row holds the affected-row count, anything else is
// DDL.
const (
	typeSelect = 0x1000
	typeInsert = 0x3100
	typeUpdate = 0x3200
	typeDelete = 0x3300
	typeMerge  = 0x3400
	typeDDL    = 0x6000
)

// kind is a statement's class, from its first keyword.
type kind struct {
	name   string // "select", "dml", "ddl", "session"
	typeID int64
}

// result is a statement's answer before it is encoded: column types and
// normalized values (see normalize), encoded in Arrow or JSON per request.
// It is immutable once built, so that the result cache can share it.
type result struct {
	typeID   int64
	cols     []rowType
	rows     [][]any
	affected int64 // rows returned or affected
}

// sqlError is a Snowflake error: code, SQLSTATE and message.
type sqlError struct{ code, state, msg string }

// keywords returns the statement's leading words, upper-case, after
// whitespace, comments and opening parentheses.
func keywords(q string, n int) []string {
	var out []string
	i := 0
	for i < len(q) && len(out) < n {
		switch c := q[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(' || c == ';':
			i++
		case strings.HasPrefix(q[i:], "--") || strings.HasPrefix(q[i:], "//"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return out
			}
			i += j + 1
		case strings.HasPrefix(q[i:], "/*"):
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return out
			}
			i += j + 4
		default:
			j := i
			for j < len(q) && (q[j] == '_' || q[j] == '$' || q[j] >= 'A' && q[j] <= 'Z' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= '0' && q[j] <= '9') {
				j++
			}
			if j == i {
				return out
			}
			out = append(out, strings.ToUpper(q[i:j]))
			i = j
		}
	}
	return out
}

func classify(q string) kind {
	kw := keywords(q, 4)
	if len(kw) == 0 {
		return kind{"ddl", typeDDL}
	}
	switch kw[0] {
	case "SELECT", "WITH", "VALUES", "SHOW", "DESC", "DESCRIBE", "EXPLAIN", "PRAGMA":
		return kind{"select", typeSelect}
	case "INSERT":
		return kind{"dml", typeInsert}
	case "UPDATE":
		return kind{"dml", typeUpdate}
	case "DELETE":
		return kind{"dml", typeDelete}
	case "MERGE":
		return kind{"dml", typeMerge}
	case "USE", "BEGIN", "START", "COMMIT", "ROLLBACK":
		return kind{"session", typeDDL}
	case "ALTER", "CREATE", "DROP":
		obj := kw[1:]
		if kw[0] == "CREATE" && len(obj) > 2 && obj[0] == "OR" && obj[1] == "REPLACE" {
			obj = obj[2:]
		}
		if len(obj) > 0 && (obj[0] == "WAREHOUSE" || (kw[0] == "ALTER" && obj[0] == "SESSION")) {
			return kind{"session", typeDDL}
		}
	}
	return kind{"ddl", typeDDL}
}

// queryType is a statement's QUERY_TYPE in the query history, close to
// Snowflake's names: SELECT, INSERT, UPDATE, DELETE, MERGE, CREATE_TABLE,
// CREATE_TABLE_AS_SELECT, DROP, ALTER_SESSION, USE, BEGIN_TRANSACTION,
// COMMIT, ROLLBACK, ALTER_WAREHOUSE_RESUME, ALTER_WAREHOUSE_SUSPEND, and
// the leading keywords joined by _ for anything else.
func queryType(q string, k kind) string {
	kw := keywords(q, 6)
	if len(kw) == 0 {
		return "UNKNOWN"
	}
	switch k.name {
	case "select":
		return "SELECT"
	case "dml":
		return kw[0]
	}
	switch kw[0] {
	case "USE", "COMMIT", "ROLLBACK":
		return kw[0]
	case "BEGIN", "START":
		return "BEGIN_TRANSACTION"
	case "ALTER":
		if len(kw) > 1 && kw[1] == "WAREHOUSE" {
			for _, w := range lex(q) { // the name may be quoted
				if w = strings.ToUpper(w); w == "RESUME" || w == "SUSPEND" {
					return "ALTER_WAREHOUSE_" + w
				}
			}
		}
	case "DROP":
		return "DROP"
	case "CREATE":
		for i, w := range kw[1:] {
			if w == "TABLE" {
				if reAsSelect.MatchString(maskLiterals(q)) {
					return "CREATE_TABLE_AS_SELECT"
				}
				return "CREATE_TABLE"
			}
			if w != "OR" && w != "REPLACE" && w != "TRANSIENT" && w != "TEMPORARY" && w != "TEMP" {
				return "CREATE_" + kw[1+i]
			}
		}
	}
	if len(kw) > 1 {
		return kw[0] + "_" + kw[1]
	}
	return kw[0]
}

var (
	reAsSelect = regexp.MustCompile(`(?i)\bAS\s*\(?\s*(SELECT|WITH)\b`)
	reFrom     = regexp.MustCompile(`(?i)\bFROM\b`)
)

// usesWarehouse reports whether a statement needs a running warehouse:
// DML, and queries that read a table (that have a FROM). DDL, session
// statements and queries of constants (SELECT 1, SELECT
// CURRENT_TIMESTAMP()) are answered without one, as Snowflake's cloud
// services answer them.
func usesWarehouse(k kind, q string) bool {
	return k.name == "dml" || (k.name == "select" && reFrom.MatchString(maskLiterals(q)))
}

// execute runs one statement for ss.
func (s *Server) execute(ctx context.Context, ss *session, k kind, req queryRequest) (*result, *sqlError) {
	if k.name == "session" {
		return s.sessionStatement(ctx, ss, req.SQLText)
	}
	args, err := bindArgs(req.Bindings)
	if err != nil {
		return nil, &sqlError{code: "002049", state: "22000", msg: "SQL compilation error: " + err.Error()}
	}
	q, pre := translate(req.SQLText)
	for _, p := range pre {
		if _, err := s.db.ExecContext(ctx, p); err != nil {
			return nil, mapError(err)
		}
	}
	switch k.name {
	case "select":
		calls, serr := s.findHistoryCalls(q, ss, args)
		if serr != nil {
			return nil, serr
		}
		if len(calls) == 0 {
			return selectRows(ctx, s.db, req.SQLText, q, args)
		}
		// The history's tables are temporary: they live on one connection.
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return nil, mapError(err)
		}
		defer conn.Close()
		q, drop, serr := s.materializeHistory(ctx, conn, q, calls)
		if serr != nil {
			return nil, serr
		}
		defer drop()
		return selectRows(ctx, conn, req.SQLText, q, usedArgs(q, args))
	case "dml":
		r, err := s.db.ExecContext(ctx, q, args...)
		if err != nil {
			return nil, mapError(err)
		}
		n, _ := r.RowsAffected()
		name := map[int64]string{typeInsert: "number of rows inserted", typeUpdate: "number of rows updated",
			typeDelete: "number of rows deleted", typeMerge: "number of rows merged"}[k.typeID]
		return &result{typeID: k.typeID, affected: n,
			cols: []rowType{{Name: name, Type: "fixed", Precision: 19}},
			rows: [][]any{{n}}}, nil
	}
	if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
		return nil, mapError(err)
	}
	return statusResult("Statement executed successfully."), nil
}

var reBindRef = regexp.MustCompile(`\?(\d+)`)

// usedArgs drops the arguments past the last ?N that q still refers to
// (the QUERY_HISTORY calls took theirs), since SQLite wants exactly as
// many as the highest number.
func usedArgs(q string, args []any) []any {
	n := 0
	for _, m := range reBindRef.FindAllStringSubmatch(maskLiterals(q), -1) {
		i, _ := strconv.Atoi(m[1])
		n = max(n, i)
	}
	return args[:min(n, len(args))]
}

func statusResult(msg string) *result {
	return &result{typeID: typeDDL,
		cols: []rowType{{Name: "status", Type: "text", Length: maxTextLength, ByteLength: maxTextLength, Nullable: true}},
		rows: [][]any{{msg}}}
}

// sessionStatement handles what the server does itself: ALTER SESSION,
// USE, ALTER WAREHOUSE and transaction control.
func (s *Server) sessionStatement(ctx context.Context, ss *session, q string) (*result, *sqlError) {
	toks := lex(q)
	word := func(i int) string {
		if i < len(toks) {
			return strings.ToUpper(toks[i])
		}
		return ""
	}
	bad := func() (*result, *sqlError) {
		return nil, &sqlError{code: "001003", state: "42000", msg: fmt.Sprintf("SQL compilation error: syntax error in %q", q)}
	}
	switch word(0) {
	case "BEGIN", "START", "COMMIT", "ROLLBACK":
		return statusResult("Statement executed successfully."), nil
	case "USE":
		i := 1
		what := "DATABASE"
		switch word(1) {
		case "WAREHOUSE", "DATABASE", "SCHEMA", "ROLE":
			what, i = word(1), 2
		}
		if i >= len(toks) {
			return bad()
		}
		name := normIdent(strings.Join(toks[i:], ""))
		s.mu.Lock()
		switch what {
		case "WAREHOUSE":
			ss.warehouse = name
		case "DATABASE":
			ss.database = name
		case "SCHEMA":
			ss.schema = name
		case "ROLE":
			ss.role = name
		}
		s.mu.Unlock()
		return statusResult("Statement executed successfully."), nil
	case "CREATE", "DROP":
		return s.warehouseDDL(toks, bad)
	case "ALTER":
		if word(1) == "WAREHOUSE" {
			return s.alterWarehouse(ctx, toks, bad)
		}
		switch word(2) {
		case "SET":
			set, ok := props(toks[3:])
			if !ok || len(set) == 0 {
				return bad()
			}
			for k, v := range set {
				if err := checkParam(k, v); err != nil {
					return nil, err
				}
			}
			s.mu.Lock()
			maps.Copy(ss.params, set)
			s.mu.Unlock()
		case "UNSET":
			s.mu.Lock()
			for _, t := range toks[3:] {
				if t != "," {
					delete(ss.params, strings.ToUpper(t))
				}
			}
			s.mu.Unlock()
		default:
			return bad()
		}
		return statusResult("Statement executed successfully."), nil
	}
	return bad()
}

// props reads NAME = value pairs, separated by spaces or commas; names
// upper-case, string literals unquoted.
func props(toks []string) (map[string]string, bool) {
	set := map[string]string{}
	for i := 0; i < len(toks); {
		if toks[i] == "," {
			i++
			continue
		}
		if i+2 >= len(toks) || toks[i+1] != "=" {
			return nil, false
		}
		set[strings.ToUpper(toks[i])] = literal(toks[i+2])
		i += 3
	}
	return set, true
}

// warehouseDDL handles CREATE [OR REPLACE] WAREHOUSE [IF NOT EXISTS] name
// [WITH] props and DROP WAREHOUSE [IF EXISTS] name. A created warehouse
// starts resuming unless INITIALLY_SUSPENDED = TRUE, as Snowflake's does.
func (s *Server) warehouseDDL(toks []string, bad func() (*result, *sqlError)) (*result, *sqlError) {
	i, replace, ifNot, ifExists := 1, false, false, false
	up := func(j int) string {
		if j < len(toks) {
			return strings.ToUpper(toks[j])
		}
		return ""
	}
	create := up(0) == "CREATE"
	if create && up(1) == "OR" && up(2) == "REPLACE" {
		replace, i = true, 3
	}
	if up(i) != "WAREHOUSE" {
		return bad()
	}
	i++
	switch {
	case create && up(i) == "IF" && up(i+1) == "NOT" && up(i+2) == "EXISTS":
		ifNot, i = true, i+3
	case !create && up(i) == "IF" && up(i+1) == "EXISTS":
		ifExists, i = true, i+2
	}
	if i >= len(toks) {
		return bad()
	}
	name := normIdent(toks[i])
	i++
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.warehouses[name]
	if !create {
		if old == nil && !ifExists {
			return nil, &sqlError{code: "002003", state: "02000", msg: fmt.Sprintf("SQL compilation error:\nWarehouse '%s' does not exist or not authorized.", name)}
		}
		if old != nil {
			if old.timer != nil {
				old.timer.Stop()
			}
			failQueueLocked(old, &sqlError{code: "000604", state: "57014", msg: fmt.Sprintf("SQL execution canceled: warehouse '%s' was dropped.", name)})
		}
		delete(s.warehouses, name)
		return statusResult(fmt.Sprintf("%s successfully dropped.", name)), nil
	}
	if old != nil && !replace {
		if ifNot {
			return statusResult(fmt.Sprintf("%s already exists, statement succeeded.", name)), nil
		}
		return nil, &sqlError{code: "002002", state: "42710", msg: fmt.Sprintf("SQL compilation error:\nObject '%s' already exists.", name)}
	}
	if up(i) == "WITH" {
		i++
	}
	set, ok := props(toks[i:])
	if !ok {
		return bad()
	}
	wh := &warehouse{name: name, cfg: s.opts.Warehouse.config(s.opts.ResumeLatency)}
	if err := s.setWarehouseProps(wh, set, true); err != nil {
		return nil, err
	}
	if old != nil {
		if old.timer != nil {
			old.timer.Stop()
		}
		failQueueLocked(old, &sqlError{code: "000604", state: "57014", msg: fmt.Sprintf("SQL execution canceled: warehouse '%s' was replaced.", name)})
	}
	s.warehouses[name] = wh
	return statusResult(fmt.Sprintf("Warehouse %s successfully created.", name)), nil
}

// alterWarehouse handles ALTER WAREHOUSE [IF EXISTS] name RESUME [IF
// SUSPENDED], ... SUSPEND, ... SET props and ... UNSET names (back to the
// server's defaults). A warehouse that no statement named before exists,
// suspended, with Options.Warehouse.
func (s *Server) alterWarehouse(ctx context.Context, toks []string, bad func() (*result, *sqlError)) (*result, *sqlError) {
	i := 2
	if len(toks) > 4 && strings.EqualFold(toks[2], "IF") && strings.EqualFold(toks[3], "EXISTS") {
		i = 4
	}
	if i+1 >= len(toks) {
		return bad()
	}
	name := normIdent(toks[i])
	action := strings.ToUpper(toks[i+1])
	ifSuspended := len(toks) >= i+4 && strings.EqualFold(toks[i+2], "IF") && strings.EqualFold(toks[i+3], "SUSPENDED")
	now := time.Now()
	s.mu.Lock()
	wh := s.warehouseLocked(name)
	s.tickLocked(wh, now)
	switch action {
	case "RESUME":
		if len(wh.clusters) > 0 && !ifSuspended {
			s.mu.Unlock()
			return nil, &sqlError{code: "090064", state: "22000", msg: fmt.Sprintf("Invalid state. Warehouse '%s' cannot be resumed because resource monitor has exceeded its quota or it is already running.", name)}
		}
		if len(wh.clusters) == 0 {
			s.resumeLocked(wh, now)
			s.counters.WarehouseResumes++
			s.dispatchLocked(wh, now)
		}
		// The statement returns when the warehouse is provisioned.
		wait := wh.provisionedAt.Sub(now)
		s.mu.Unlock()
		if wait > 0 && !s.sleep(ctx, wait) {
			return nil, errCanceled
		}
	case "SUSPEND":
		s.suspendLocked(wh, now)
		s.mu.Unlock()
	case "SET":
		set, ok := props(toks[i+2:])
		if !ok || len(set) == 0 {
			s.mu.Unlock()
			return bad()
		}
		err := s.setWarehouseProps(wh, set, false)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
	case "UNSET":
		def := s.opts.Warehouse.config(s.opts.ResumeLatency)
		c := wh.cfg
		for _, t := range toks[i+2:] {
			switch strings.ToUpper(t) {
			case ",":
			case "WAREHOUSE_SIZE":
				c.size = def.size
			case "MAX_CONCURRENCY_LEVEL":
				c.maxConcurrency = def.maxConcurrency
			case "STATEMENT_QUEUED_TIMEOUT_IN_SECONDS":
				c.queuedTimeout = def.queuedTimeout
			case "STATEMENT_TIMEOUT_IN_SECONDS":
				c.statementTimeout = def.statementTimeout
			case "AUTO_SUSPEND":
				c.autoSuspend = def.autoSuspend
			case "AUTO_RESUME":
				c.autoResume = def.autoResume
			case "MIN_CLUSTER_COUNT":
				c.minClusters = def.minClusters
			case "MAX_CLUSTER_COUNT":
				c.maxClusters = def.maxClusters
			default:
				s.mu.Unlock()
				return nil, &sqlError{code: "001008", state: "22023", msg: fmt.Sprintf("SQL compilation error:\ninvalid property '%s' for 'WAREHOUSE'", t)}
			}
		}
		wh.cfg = c
		s.dispatchLocked(wh, now)
		s.mu.Unlock()
	default:
		s.mu.Unlock()
		return bad()
	}
	return statusResult("Statement executed successfully."), nil
}

// lex splits a short statement into words, quoted names, string literals
// and single punctuation characters.
func lex(q string) []string {
	var out []string
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';':
			i++
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			out = append(out, q[i:min(j+1, len(q))])
			i = j + 1
		case c == '=' || c == ',' || c == '(' || c == ')':
			out = append(out, string(c))
			i++
		default:
			j := i
			for j < len(q) && !strings.ContainsRune(" \t\n\r;=,()'\"", rune(q[j])) {
				j++
			}
			out = append(out, q[i:j])
			i = j
		}
	}
	return out
}

// literal is the value of an ALTER SESSION token: a string literal's
// content, or the token itself.
func literal(t string) string {
	if len(t) >= 2 && t[0] == '\'' && t[len(t)-1] == '\'' {
		return strings.ReplaceAll(t[1:len(t)-1], "''", "'")
	}
	return t
}

var (
	reNow         = regexp.MustCompile(`(?i)\b(CURRENT_TIMESTAMP|SYSDATE|GETDATE|LOCALTIMESTAMP)\s*\(\s*\)`)
	reEpochNow    = regexp.MustCompile(`(?i)\bDATE_PART\s*\(\s*'?EPOCH_(SECOND|MILLISECOND|MICROSECOND|NANOSECOND)'?\s*,\s*(?:CURRENT_TIMESTAMP|SYSDATE|GETDATE|LOCALTIMESTAMP)\s*\(\s*\)\s*\)`)
	reToday       = regexp.MustCompile(`(?i)\bCURRENT_DATE\s*\(\s*\)`)
	reBindNum     = regexp.MustCompile(`(^|[^:]):(\d+)`)
	reOrReplace   = regexp.MustCompile(`(?is)^(\s*CREATE\s+)OR\s+REPLACE\s+(TABLE\s+)("[^"]+"|[A-Za-z_][\w$]*)`)
	reWait        = regexp.MustCompile(`(?i)\bSYSTEM\$WAIT\s*\(\s*(\d+)\s*(?:,\s*'(\w+)'\s*)?\)`)
	reTransientIn = regexp.MustCompile(`(?is)^(\s*CREATE\s+(?:OR\s+REPLACE\s+)?)TRANSIENT\s+TABLE\b`)
)

// translate rewrites Snowflake SQL into SQLite's where they differ, outside
// string literals and quoted names, and returns the statements to run first
// (the DROP of a CREATE OR REPLACE).
func translate(q string) (string, []string) {
	var pre []string
	q = reWait.ReplaceAllStringFunc(q, func(call string) string {
		m := reWait.FindStringSubmatch(call)
		unit := strings.ToLower(cmp.Or(m[2], "seconds"))
		return "'waited " + m[1] + " " + unit + "'"
	})
	q = reTransientIn.ReplaceAllString(q, "${1}TABLE")
	if m := reOrReplace.FindStringSubmatch(q); m != nil {
		pre = append(pre, "DROP TABLE IF EXISTS "+m[3])
		q = m[1] + m[2] + m[3] + q[len(m[0]):]
	}
	var b strings.Builder
	b.Grow(len(q))
	bare := 0 // ? placeholders so far: each becomes ?N, so that removing a part of the query keeps the others' numbers
	for i := 0; i < len(q); {
		c := q[i]
		if c == '\'' || c == '"' {
			j := i + 1
			for j < len(q) {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			end := min(j+1, len(q))
			b.WriteString(q[i:end])
			i = end
			continue
		}
		j := i
		for j < len(q) && q[j] != '\'' && q[j] != '"' {
			j++
		}
		seg := q[i:j]
		seg = reEpochNow.ReplaceAllStringFunc(seg, epochNow)
		seg = reNow.ReplaceAllString(seg, "CURRENT_TIMESTAMP")
		seg = reToday.ReplaceAllString(seg, "CURRENT_DATE")
		seg = reBindNum.ReplaceAllString(seg, "${1}?${2}")
		for k := 0; k < len(seg); k++ {
			b.WriteByte(seg[k])
			if seg[k] == '?' && (k+1 == len(seg) || seg[k+1] < '0' || seg[k+1] > '9') {
				bare++
				b.WriteString(strconv.Itoa(bare))
			}
		}
		i = j
	}
	return b.String(), pre
}

// epochNow replaces DATE_PART(EPOCH_<unit>, SYSDATE()) (or another
// function of now), the Snowflake dialect's clock (dialect.NowMicros,
// which package sqlcoord reads), by the server's clock in that unit, read
// as the statement executes: SQLite's own clock has milliseconds only.
func epochNow(call string) string {
	now := time.Now()
	var v int64
	switch strings.ToUpper(reEpochNow.FindStringSubmatch(call)[1]) {
	case "SECOND":
		v = now.Unix()
	case "MILLISECOND":
		v = now.UnixMilli()
	case "MICROSECOND":
		v = now.UnixMicro()
	default:
		v = now.UnixNano()
	}
	return strconv.FormatInt(v, 10)
}

// systemWait is how long the SYSTEM$WAIT(amount [, 'unit']) calls of q
// wait: Snowflake's function that holds a query for a while, which the
// server adds to the statement's execution time.
func systemWait(q string) (time.Duration, *sqlError) {
	var total time.Duration
	for _, m := range reWait.FindAllStringSubmatch(q, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		unit := map[string]time.Duration{"": time.Second, "SECONDS": time.Second, "MILLISECONDS": time.Millisecond,
			"MICROSECONDS": time.Microsecond, "NANOSECONDS": time.Nanosecond, "MINUTES": time.Minute, "HOURS": time.Hour}
		u, ok := unit[strings.ToUpper(m[2])]
		if !ok {
			return 0, &sqlError{code: "100069", state: "22023", msg: fmt.Sprintf("Invalid time unit for SYSTEM$WAIT: '%s'", m[2])}
		}
		total += time.Duration(n) * u
	}
	return total, nil
}

// bindArgs converts the request's bindings ("1", "2", ... or names) to
// arguments for database/sql.
func bindArgs(bs map[string]binding) ([]any, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(bs))
	positional := true
	for k := range bs {
		keys = append(keys, k)
		if _, err := strconv.Atoi(k); err != nil {
			positional = false
		}
	}
	if positional {
		slices.SortFunc(keys, func(a, b string) int {
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(b)
			return x - y
		})
	} else {
		slices.Sort(keys)
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		v, err := bindValue(bs[k])
		if err != nil {
			return nil, fmt.Errorf("binding %s: %w", k, err)
		}
		if positional {
			args[i] = v
		} else {
			args[i] = sql.Named(k, v)
		}
	}
	return args, nil
}

func bindValue(b binding) (any, error) {
	if b.Value == nil {
		return nil, nil
	}
	s, ok := b.Value.(string)
	if !ok {
		return nil, fmt.Errorf("type %s: array binds are not supported", b.Type)
	}
	switch strings.ToUpper(b.Type) {
	case "FIXED":
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		return strconv.ParseFloat(s, 64)
	case "REAL":
		return strconv.ParseFloat(s, 64)
	case "BOOLEAN":
		return strconv.ParseBool(s)
	case "TIMESTAMP_NTZ", "TIMESTAMP_LTZ":
		// Nanoseconds since the epoch: of the wall clock (NTZ) or the
		// instant (LTZ). Stored as canonical text: an NTZ without offset,
		// an LTZ in UTC.
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(b.Type, "TIMESTAMP_NTZ") {
			return time.Unix(0, n).UTC().Format(canonicalNTZ), nil
		}
		return time.Unix(0, n).UTC().Format(canonicalTZ), nil
	case "TIMESTAMP_TZ":
		// Nanoseconds and the offset in minutes plus 1440.
		ns, off, _ := strings.Cut(s, " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if err != nil {
			return nil, err
		}
		o, err := strconv.Atoi(off)
		if err != nil {
			return nil, err
		}
		return time.Unix(0, n).In(time.FixedZone("", (o-1440)*60)).Format(canonicalTZ), nil
	case "DATE":
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, err
		}
		return time.UnixMilli(ms).UTC().Format(time.DateOnly), nil
	case "BINARY":
		return hex.DecodeString(s)
	}
	return s, nil
}

// queryer is what selectRows needs of *sql.DB and *sql.Conn.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// selectRows runs a query (q, translated from orig) and types its
// columns: by the declared type SQLite reports for a table's column (the
// catalog that CREATE TABLE wrote), else by what the select list of orig
// says, else by the values; then normalizes every value to its type.
func selectRows(ctx context.Context, db queryer, orig, q string, args []any) (*result, *sqlError) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, mapError(err)
	}
	var data [][]any
	ptrs := make([]any, len(cols))
	for rows.Next() {
		vals := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, mapError(err)
		}
		data = append(data, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, mapError(err)
	}
	if err := rows.Close(); err != nil {
		return nil, mapError(err)
	}
	decls, err := declTypes(ctx, db, q, cols)
	if err != nil {
		return nil, mapError(err)
	}
	res := &result{typeID: typeSelect, affected: int64(len(data)), cols: make([]rowType, len(cols)), rows: data}
	var listed []string
	for i, c := range cols {
		rt, ok := declaredType(c.Name(), decls[i])
		if !ok {
			if listed == nil {
				listed = selectListTypes(orig, len(cols))
				if listed == nil {
					listed = make([]string, len(cols))
				}
			}
			if rt, ok = declaredType(c.Name(), listed[i]); !ok {
				rt = valueType(c.Name(), data, i)
			}
		}
		res.cols[i] = rt
	}
	for _, row := range data {
		for i, v := range row {
			n, serr := normalize(v, &res.cols[i])
			if serr != nil {
				return nil, serr
			}
			row[i] = n
		}
	}
	return res, nil
}

// declTypes returns the declared types of q's result columns as SQLite's
// schema has them (sqlite3_column_decltype), with their parameters:
// NUMBER(18,2), TIMESTAMP_NTZ(3). database/sql's DatabaseTypeName gives
// them without (the driver cuts the parentheses), so q is prepared again
// on the driver's own connection, when any column has a declared type.
func declTypes(ctx context.Context, db queryer, q string, cols []*sql.ColumnType) ([]string, error) {
	decls := make([]string, len(cols))
	if !slices.ContainsFunc(cols, func(c *sql.ColumnType) bool { return c.DatabaseTypeName() != "" }) {
		return decls, nil
	}
	conn, ok := db.(*sql.Conn)
	if !ok {
		c, err := db.(*sql.DB).Conn(ctx)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		conn = c
	}
	err := conn.Raw(func(dc any) error {
		st, _, err := dc.(interface{ Raw() *sqlite3.Conn }).Raw().Prepare(q)
		if err != nil {
			return err
		}
		defer st.Close()
		for i := range min(st.ColumnCount(), len(decls)) {
			decls[i] = st.ColumnDeclType(i)
		}
		return nil
	})
	return decls, err
}

// mapError turns a SQLite error into Snowflake's code and SQLSTATE for the
// same kind of failure.
func mapError(err error) *sqlError {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no such table"):
		return &sqlError{"002003", "42S02", "SQL compilation error:\nObject does not exist or not authorized (" + msg + ")."}
	case strings.Contains(msg, "no such column"):
		return &sqlError{"000904", "42000", "SQL compilation error: invalid identifier (" + msg + ")."}
	case strings.Contains(msg, "syntax error"), strings.Contains(msg, "incomplete input"):
		return &sqlError{"001003", "42000", "SQL compilation error: syntax error (" + msg + ")."}
	case strings.Contains(msg, "already exists"):
		return &sqlError{"002002", "42710", "SQL compilation error:\nObject already exists (" + msg + ")."}
	case strings.Contains(msg, "constraint"):
		return &sqlError{"100072", "22000", "Constraint violation (" + msg + ")."}
	}
	return &sqlError{"000603", "XX000", "SQL execution error (" + msg + ")."}
}
