package snowflaketest

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
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

// rowType is one column's metadata as the driver reads it.
type rowType struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Length     int64  `json:"length"`
	ByteLength int64  `json:"byteLength"`
	Precision  int64  `json:"precision"`
	Scale      int64  `json:"scale"`
	Nullable   bool   `json:"nullable"`
}

type result struct {
	typeID  int64
	rowtype []rowType
	rowset  [][]*string
	rows    int64
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
	kw := keywords(q, 2)
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
	case "ALTER":
		if len(kw) > 1 && (kw[1] == "SESSION" || kw[1] == "WAREHOUSE") {
			return kind{"session", typeDDL}
		}
	}
	return kind{"ddl", typeDDL}
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
		return s.selectRows(ctx, q, args)
	case "dml":
		r, err := s.db.ExecContext(ctx, q, args...)
		if err != nil {
			return nil, mapError(err)
		}
		n, _ := r.RowsAffected()
		v := strconv.FormatInt(n, 10)
		name := map[int64]string{typeInsert: "number of rows inserted", typeUpdate: "number of rows updated",
			typeDelete: "number of rows deleted", typeMerge: "number of rows merged"}[k.typeID]
		return &result{typeID: k.typeID, rows: n,
			rowtype: []rowType{{Name: name, Type: "fixed", Precision: 19}},
			rowset:  [][]*string{{&v}}}, nil
	}
	if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
		return nil, mapError(err)
	}
	return statusResult("Statement executed successfully."), nil
}

func statusResult(msg string) *result {
	return &result{typeID: typeDDL,
		rowtype: []rowType{{Name: "status", Type: "text", Length: 16777216, ByteLength: 16777216, Nullable: true}},
		rowset:  [][]*string{{&msg}}}
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
	case "ALTER":
		if word(1) == "WAREHOUSE" {
			return s.alterWarehouse(ctx, toks, bad)
		}
		switch word(2) {
		case "SET":
			set := map[string]string{}
			for i := 3; i < len(toks); {
				if toks[i] == "," {
					i++
					continue
				}
				if i+2 >= len(toks) || toks[i+1] != "=" {
					return bad()
				}
				set[strings.ToUpper(toks[i])] = literal(toks[i+2])
				i += 3
			}
			if len(set) == 0 {
				return bad()
			}
			s.mu.Lock()
			for k, v := range set {
				ss.params[k] = v
			}
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

// alterWarehouse handles ALTER WAREHOUSE [IF EXISTS] name RESUME [IF
// SUSPENDED] and ... SUSPEND. Every warehouse starts suspended.
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
	s.mu.Lock()
	running := s.warehouses[name]
	s.mu.Unlock()
	switch action {
	case "RESUME":
		if running {
			if ifSuspended {
				return statusResult("Statement executed successfully."), nil
			}
			return nil, &sqlError{code: "090064", state: "22000", msg: fmt.Sprintf("Invalid state. Warehouse '%s' cannot be resumed because resource monitor has exceeded its quota or it is already running.", name)}
		}
		if !s.wait(ctx, s.opts.ResumeLatency) {
			return nil, &sqlError{code: "000604", state: "57014", msg: "SQL execution canceled"}
		}
		s.mu.Lock()
		s.warehouses[name] = true
		s.counters.WarehouseResumes++
		s.mu.Unlock()
	case "SUSPEND":
		s.mu.Lock()
		s.warehouses[name] = false
		s.mu.Unlock()
	default:
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
	reToday       = regexp.MustCompile(`(?i)\bCURRENT_DATE\s*\(\s*\)`)
	reBindNum     = regexp.MustCompile(`(^|[^:]):(\d+)`)
	reOrReplace   = regexp.MustCompile(`(?is)^(\s*CREATE\s+)OR\s+REPLACE\s+(TABLE\s+)("[^"]+"|[A-Za-z_][\w$]*)`)
	reTransientIn = regexp.MustCompile(`(?is)^(\s*CREATE\s+(?:OR\s+REPLACE\s+)?)TRANSIENT\s+TABLE\b`)
)

// translate rewrites Snowflake SQL into SQLite's where they differ, outside
// string literals and quoted names, and returns the statements to run first
// (the DROP of a CREATE OR REPLACE).
func translate(q string) (string, []string) {
	var pre []string
	q = reTransientIn.ReplaceAllString(q, "${1}TABLE")
	if m := reOrReplace.FindStringSubmatch(q); m != nil {
		pre = append(pre, "DROP TABLE IF EXISTS "+m[3])
		q = m[1] + m[2] + m[3] + q[len(m[0]):]
	}
	var b strings.Builder
	b.Grow(len(q))
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
		seg = reNow.ReplaceAllString(seg, "CURRENT_TIMESTAMP")
		seg = reToday.ReplaceAllString(seg, "CURRENT_DATE")
		seg = reBindNum.ReplaceAllString(seg, "${1}?${2}")
		b.WriteString(seg)
		i = j
	}
	return b.String(), pre
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
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, err
		}
		return time.Unix(0, n).UTC(), nil
	case "TIMESTAMP_TZ":
		ns, off, _ := strings.Cut(s, " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if err != nil {
			return nil, err
		}
		o, _ := strconv.Atoi(off)
		return time.Unix(0, n).In(time.FixedZone("", (o-1440)*60)), nil
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

// selectRows runs a query and encodes its rows as the driver's JSON rowset.
func (s *Server) selectRows(ctx context.Context, q string, args []any) (*result, *sqlError) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, mapError(err)
	}
	var data [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
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
	res := &result{typeID: typeSelect, rows: int64(len(data))}
	for i, c := range cols {
		rt := columnType(c.Name(), c.DatabaseTypeName(), data, i)
		res.rowtype = append(res.rowtype, rt)
	}
	res.rowset = make([][]*string, len(data))
	for r, vals := range data {
		row := make([]*string, len(vals))
		for i, v := range vals {
			row[i] = encode(v, res.rowtype[i])
		}
		res.rowset[r] = row
	}
	return res, nil
}

// columnType maps a SQLite column to Snowflake's row type: by its declared
// type where it has one, else by the first non-NULL value.
func columnType(name, decl string, data [][]any, i int) rowType {
	rt := rowType{Name: name, Nullable: true}
	d := strings.ToUpper(decl)
	if p := strings.IndexByte(d, '('); p >= 0 {
		if _, sc, ok := strings.Cut(strings.Trim(d[p:], "()"), ","); ok {
			rt.Scale, _ = strconv.ParseInt(strings.TrimSpace(sc), 10, 64)
		}
		d = strings.TrimSpace(d[:p])
	}
	switch {
	case d == "":
		rt.Type = "text"
	rows:
		for _, row := range data {
			switch row[i].(type) {
			case nil:
				continue
			case int64:
				rt.Type = "fixed"
			case float64:
				rt.Type = "real"
			case bool:
				rt.Type = "boolean"
			case time.Time:
				rt.Type = "timestamp_ntz"
			case []byte:
				rt.Type = "binary"
			}
			break rows
		}
	case strings.Contains(d, "INT"), d == "NUMBER", d == "NUMERIC", d == "DECIMAL", d == "FIXED":
		rt.Type = "fixed"
		if rt.Scale > 0 {
			rt.Type = "real" // values come back from SQLite as floats
		}
	case strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"), strings.Contains(d, "DOUB"):
		rt.Type = "real"
	case strings.Contains(d, "BOOL"):
		rt.Type = "boolean"
	case d == "TIMESTAMP_LTZ":
		rt.Type = "timestamp_ltz"
	case d == "TIMESTAMP_TZ":
		rt.Type = "timestamp_tz"
	case strings.HasPrefix(d, "TIMESTAMP"), d == "DATETIME":
		rt.Type = "timestamp_ntz"
	case d == "DATE":
		rt.Type = "date"
	case strings.Contains(d, "BLOB"), strings.Contains(d, "BINARY"):
		rt.Type = "binary"
	default:
		rt.Type = "text"
	}
	switch rt.Type {
	case "fixed":
		rt.Precision = 38
	case "text":
		rt.Length, rt.ByteLength = 16777216, 16777216
	case "timestamp_ntz", "timestamp_ltz", "timestamp_tz":
		rt.Scale = 9
	}
	return rt
}

var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999 -0700 MST", // time.Time.String, as modernc.org/sqlite writes times
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	time.DateOnly,
}

func parseTime(s string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// encode writes one value as the JSON rowset holds it for rt.
func encode(v any, rt rowType) *string {
	if v == nil {
		return nil
	}
	var s string
	switch rt.Type {
	case "timestamp_ntz", "timestamp_ltz", "timestamp_tz", "date":
		t, ok := v.(time.Time)
		if !ok {
			str := fmt.Sprint(v)
			if b, isB := v.([]byte); isB {
				str = string(b)
			}
			if t, ok = parseTime(str); !ok {
				s = str // not a time: the driver will report it
				return &s
			}
		}
		switch rt.Type {
		case "date":
			s = strconv.FormatInt(t.Unix()/86400, 10)
		case "timestamp_ntz":
			// NTZ keeps the wall clock: read it as if it were UTC.
			w := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
			s = fmt.Sprintf("%d.%09d", w.Unix(), w.Nanosecond())
		case "timestamp_ltz":
			s = fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
		default:
			_, off := t.Zone()
			s = fmt.Sprintf("%d.%09d %d", t.Unix(), t.Nanosecond(), off/60+1440)
		}
		return &s
	}
	switch x := v.(type) {
	case int64:
		if rt.Type == "boolean" {
			s = "0"
			if x != 0 {
				s = "1"
			}
		} else {
			s = strconv.FormatInt(x, 10)
		}
	case float64:
		if rt.Type == "fixed" && x == math.Trunc(x) && math.Abs(x) < 1e18 {
			s = strconv.FormatInt(int64(x), 10)
		} else {
			s = strconv.FormatFloat(x, 'g', -1, 64)
		}
	case bool:
		s = "0"
		if x {
			s = "1"
		}
	case []byte:
		if rt.Type == "binary" {
			s = hex.EncodeToString(x)
		} else {
			s = string(x)
		}
	case string:
		s = x
		if rt.Type == "boolean" {
			if b, err := strconv.ParseBool(x); err == nil {
				s = "0"
				if b {
					s = "1"
				}
			}
		}
	case time.Time:
		s = x.Format("2006-01-02 15:04:05.999999999 -0700")
	default:
		s = fmt.Sprint(x)
	}
	return &s
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
