package snowflaketest

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// rowType is one result column's metadata as the driver reads it (the
// "rowtype" of a query response): it decides how the driver decodes the
// column, in JSON and in Arrow alike.
type rowType struct {
	Name       string `json:"name"`
	Type       string `json:"type"` // fixed, real, text, boolean, date, timestamp_ntz, timestamp_ltz, timestamp_tz, binary
	Length     int64  `json:"length"`
	ByteLength int64  `json:"byteLength"`
	Precision  int64  `json:"precision"`
	Scale      int64  `json:"scale"`
	Nullable   bool   `json:"nullable"`
}

// Snowflake's limits, used for declared types without a length or scale.
const (
	maxTextLength   = 16777216 // VARCHAR without a length
	maxBinaryLength = 8388608  // BINARY without a length
	defaultTSScale  = 9        // TIMESTAMP_* without a precision
)

// declaredType maps a declared column type (what CREATE TABLE or CAST
// wrote, as SQLite keeps it) to Snowflake's type, and reports false when
// decl is empty: an expression, whose type must be found another way.
//
// The mapping follows Snowflake's synonyms: INT, INTEGER, BIGINT,
// SMALLINT, TINYINT and BYTEINT are NUMBER(38,0); DECIMAL and NUMERIC are
// NUMBER; FLOAT, DOUBLE and REAL are FLOAT; VARCHAR, STRING, CHAR and TEXT
// are TEXT; VARBINARY is BINARY; DATETIME and TIMESTAMP are TIMESTAMP_NTZ
// (the default TIMESTAMP_TYPE_MAPPING). Types the server does not model
// (VARIANT, OBJECT, ARRAY, TIME, GEOGRAPHY...) are served as TEXT, and
// SQLite's own affinity names (as CREATE TABLE AS SELECT declares them)
// map by affinity: INT to NUMBER(38,0), REAL to FLOAT, NUM to FLOAT.
func declaredType(name, decl string) (rowType, bool) {
	rt := rowType{Name: name, Nullable: true}
	d := strings.ToUpper(strings.TrimSpace(decl))
	if d == "" {
		return rt, false
	}
	var args []int64
	if p := strings.IndexByte(d, '('); p >= 0 {
		for a := range strings.SplitSeq(strings.Trim(d[p:], "() "), ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
			if err == nil {
				args = append(args, n)
			}
		}
		d = strings.TrimSpace(d[:p])
	}
	arg := func(i int, def int64) int64 {
		if i < len(args) {
			return args[i]
		}
		return def
	}
	switch d {
	case "NUMBER", "DECIMAL", "NUMERIC", "FIXED":
		rt.Type, rt.Precision, rt.Scale = "fixed", arg(0, 38), arg(1, 0)
	case "INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT":
		rt.Type, rt.Precision = "fixed", 38
	case "FLOAT", "FLOAT4", "FLOAT8", "DOUBLE", "DOUBLE PRECISION", "REAL", "NUM":
		rt.Type = "real"
	case "BOOLEAN", "BOOL":
		rt.Type = "boolean"
	case "DATE":
		rt.Type = "date"
	case "TIMESTAMP", "DATETIME", "TIMESTAMP_NTZ", "TIMESTAMPNTZ", "TIMESTAMP WITHOUT TIME ZONE":
		rt.Type, rt.Scale = "timestamp_ntz", arg(0, defaultTSScale)
	case "TIMESTAMP_LTZ", "TIMESTAMPLTZ", "TIMESTAMP WITH LOCAL TIME ZONE":
		rt.Type, rt.Scale = "timestamp_ltz", arg(0, defaultTSScale)
	case "TIMESTAMP_TZ", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE":
		rt.Type, rt.Scale = "timestamp_tz", arg(0, defaultTSScale)
	case "BINARY", "VARBINARY", "BLOB":
		rt.Type = "binary"
		rt.Length = arg(0, maxBinaryLength)
		rt.ByteLength = rt.Length
	default:
		rt.Type = "text"
		if strings.Contains(d, "INT") { // SQLite's INT affinity
			rt.Type, rt.Precision = "fixed", 38
			break
		}
		rt.Length = arg(0, maxTextLength)
		rt.ByteLength = min(4*rt.Length, maxTextLength)
	}
	return rt, true
}

// valueType types an expression column by its values, the last resort
// when neither a declared type nor the select list says: integers are
// NUMBER(38,0), other numbers FLOAT, byte strings BINARY, times
// TIMESTAMP_NTZ, anything else (and a column of NULLs) TEXT. This is a
// guess: Snowflake types SELECT 1.5 as NUMBER(2,1), where this says FLOAT.
func valueType(name string, rows [][]any, col int) rowType {
	var ints, floats, bytes, times, others int
	for _, row := range rows {
		switch row[col].(type) {
		case nil:
		case int64:
			ints++
		case float64:
			floats++
		case []byte:
			bytes++
		case time.Time:
			times++
		default:
			others++
		}
	}
	decl := "TEXT"
	switch {
	case others > 0:
	case ints > 0 && floats == 0 && bytes == 0 && times == 0:
		decl = "NUMBER(38,0)"
	case floats > 0 && bytes == 0 && times == 0:
		decl = "FLOAT"
	case bytes > 0 && ints+floats+times == 0:
		decl = "BINARY"
	case times > 0 && ints+floats+bytes == 0:
		decl = "TIMESTAMP_NTZ"
	}
	rt, _ := declaredType(name, decl)
	return rt
}

// selectListTypes types the items of a query's first select list that say
// their type in the SQL: CAST(... AS type), COUNT(...) (NUMBER(18,0)),
// CURRENT_TIMESTAMP (TIMESTAMP_LTZ), SYSDATE and GETDATE (TIMESTAMP_NTZ),
// CURRENT_DATE (DATE), TO_BOOLEAN(...) (BOOLEAN). An item it cannot type
// is "". It returns nil unless the list has exactly n items (SELECT *
// and the like), since a wrong alignment would be worse than none.
func selectListTypes(q string, n int) []string {
	toks := lex(q)
	i := 0
	for i < len(toks) && !strings.EqualFold(toks[i], "SELECT") {
		i++
	}
	i++
	if i < len(toks) && (strings.EqualFold(toks[i], "DISTINCT") || strings.EqualFold(toks[i], "ALL")) {
		i++
	}
	var items [][]string
	depth, startItem := 0, i
	for ; i <= len(toks); i++ {
		end := i == len(toks)
		if !end {
			switch t := toks[i]; {
			case t == "(":
				depth++
				continue
			case t == ")":
				depth--
				if depth < 0 {
					end = true
				}
			case depth == 0 && t == ",":
				items = append(items, toks[startItem:i])
				startItem = i + 1
				continue
			case depth == 0 && isClauseWord(t):
				end = true
			}
		}
		if end {
			items = append(items, toks[startItem:i])
			break
		}
	}
	if len(items) != n {
		return nil
	}
	out := make([]string, n)
	for k, it := range items {
		out[k] = itemType(it)
	}
	return out
}

func isClauseWord(t string) bool {
	switch strings.ToUpper(t) {
	case "FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "UNION", "INTERSECT", "EXCEPT", "MINUS", "QUALIFY", "WINDOW":
		return true
	}
	return false
}

// itemType is the declared type one select-list item states, or "".
func itemType(it []string) string {
	if len(it) == 0 {
		return ""
	}
	head := strings.ToUpper(it[0])
	call := len(it) > 1 && it[1] == "("
	switch {
	case head == "CAST" && call:
		// CAST ( expr AS type ) [ [AS] alias ]
		depth := 0
		for j := 1; j < len(it); j++ {
			switch it[j] {
			case "(":
				depth++
			case ")":
				depth--
			}
			if depth != 1 || !strings.EqualFold(it[j], "AS") {
				continue
			}
			var b strings.Builder
			prevWord := false
			for _, t := range it[j+1:] {
				switch t {
				case "(":
					depth++
				case ")":
					depth--
				}
				if depth == 0 {
					return b.String()
				}
				word := t != "(" && t != ")" && t != ","
				if word && prevWord {
					b.WriteByte(' ')
				}
				b.WriteString(t)
				prevWord = word
			}
			return ""
		}
	case head == "COUNT" && call:
		return "NUMBER(18,0)"
	case head == "TO_BOOLEAN" && call:
		return "BOOLEAN"
	case head == "CURRENT_TIMESTAMP" || head == "LOCALTIMESTAMP":
		return "TIMESTAMP_LTZ"
	case head == "SYSDATE" || head == "GETDATE":
		return "TIMESTAMP_NTZ"
	case head == "CURRENT_DATE":
		return "DATE"
	}
	return ""
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
	10000000000, 100000000000, 1000000000000, 10000000000000, 100000000000000, 1000000000000000,
	10000000000000000, 100000000000000000, 1000000000000000000}

// convError is the Snowflake error for a value that does not convert to
// its column's type.
func convError(kind string, v any) *sqlError {
	s := fmt.Sprint(v)
	if b, ok := v.([]byte); ok {
		s = string(b)
	}
	switch kind {
	case "fixed", "real":
		return &sqlError{"100038", "22018", fmt.Sprintf("Numeric value '%s' is not recognized", s)}
	case "boolean":
		return &sqlError{"100037", "22018", fmt.Sprintf("Boolean value '%s' is not recognized", s)}
	case "date":
		return &sqlError{"100040", "22007", fmt.Sprintf("Date '%s' is not recognized", s)}
	}
	return &sqlError{"100035", "22007", fmt.Sprintf("Timestamp '%s' is not recognized", s)}
}

// normalize converts a value as SQLite returned it to the one Go type that
// both encoders read for rt: for fixed, the value scaled by 10^scale as
// int64, or *big.Int when it does not fit; float64 for real; string for
// text; bool for boolean; time.Time for dates and timestamps (a date at
// midnight UTC, a TIMESTAMP_NTZ's wall clock in UTC, TIMESTAMP_LTZ and _TZ
// at their instant, _TZ in its offset's zone); []byte for binary. nil
// stays nil (NULL).
func normalize(v any, rt *rowType) (any, *sqlError) {
	if v == nil {
		return nil, nil
	}
	if b, ok := v.([]byte); ok && rt.Type != "binary" {
		v = string(b)
	}
	switch rt.Type {
	case "fixed":
		return normalizeFixed(v, rt.Scale)
	case "real":
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, nil
			}
		}
		return nil, convError(rt.Type, v)
	case "boolean":
		switch x := v.(type) {
		case bool: // the driver decodes a column declared BOOLEAN itself
			return x, nil
		case int64:
			return x != 0, nil
		case float64:
			return x != 0, nil
		case string:
			switch strings.ToUpper(strings.TrimSpace(x)) {
			case "TRUE", "T", "YES", "Y", "ON", "1":
				return true, nil
			case "FALSE", "F", "NO", "N", "OFF", "0":
				return false, nil
			}
		}
		return nil, convError(rt.Type, v)
	case "date", "timestamp_ntz", "timestamp_ltz", "timestamp_tz":
		var t time.Time
		switch x := v.(type) {
		case time.Time:
			t = x
		case string:
			var ok bool
			if t, ok = parseTime(strings.TrimSpace(x)); !ok {
				return nil, convError(rt.Type, v)
			}
		case int64: // seconds since the epoch, as TO_TIMESTAMP(n) reads them
			t = time.Unix(x, 0).UTC()
		default:
			return nil, convError(rt.Type, v)
		}
		switch rt.Type {
		case "date", "timestamp_ntz":
			// The wall clock, read as if it were UTC.
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
			if rt.Type == "date" {
				t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			}
		case "timestamp_ltz":
			t = t.UTC()
		}
		return truncateScale(t, rt.Scale, rt.Type), nil
	case "binary":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
		return nil, convError(rt.Type, v)
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case []byte:
		return string(x), nil
	case time.Time:
		return x.Format(canonicalTZ), nil
	}
	return fmt.Sprint(v), nil
}

// truncateScale drops the digits of a timestamp beyond its scale.
func truncateScale(t time.Time, scale int64, typ string) time.Time {
	if typ == "date" || scale >= 9 || scale < 0 {
		return t
	}
	unit := time.Duration(pow10[9-scale])
	return t.Add(-time.Duration(t.Nanosecond()) % unit)
}

// normalizeFixed scales v by 10^scale, rounding half away from zero as
// Snowflake does when it casts to a scale.
func normalizeFixed(v any, scale int64) (any, *sqlError) {
	if scale < 0 || scale > 37 {
		scale = 0
	}
	switch x := v.(type) {
	case int64:
		if scale < int64(len(pow10)) {
			p := pow10[scale]
			if r := x * p; p == 1 || (r/p == x) {
				return r, nil
			}
		}
		return new(big.Int).Mul(big.NewInt(x), new(big.Int).Exp(big.NewInt(10), big.NewInt(scale), nil)), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, convError("fixed", v)
		}
		if scale < int64(len(pow10)) {
			// Rounded in binary unless the value is close to a half, where
			// the float's shortest decimal text decides: 1.005 (stored as
			// 1.00499999...) is what was written, and rounds to 1.01.
			r := x * float64(pow10[scale])
			_, frac := math.Modf(math.Abs(r))
			if math.Abs(r) < 9e18 && math.Abs(frac-0.5) > 1e-6 {
				return int64(math.Round(r)), nil
			}
		}
		return normalizeFixed(strconv.FormatFloat(x, 'f', -1, 64), scale)
	case bool:
		if x {
			return normalizeFixed(int64(1), scale)
		}
		return normalizeFixed(int64(0), scale)
	case string:
		r, ok := new(big.Rat).SetString(strings.TrimSpace(x))
		if !ok {
			return nil, convError("fixed", v)
		}
		r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(scale), nil)))
		// Round half away from zero.
		num, den := r.Num(), r.Denom()
		q, m := new(big.Int).QuoRem(num, den, new(big.Int))
		if new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(den) >= 0 {
			q.Add(q, big.NewInt(int64(num.Sign())))
		}
		if q.IsInt64() {
			return q.Int64(), nil
		}
		return q, nil
	}
	return nil, convError("fixed", v)
}

// formatScaled writes a scaled integer with scale digits after the point:
// (12345, 2) is "123.45", as Snowflake's JSON result sets write a
// NUMBER(p,2).
func formatScaled(v any, scale int64) string {
	var s string
	switch x := v.(type) {
	case int64:
		s = strconv.FormatInt(x, 10)
	case *big.Int:
		s = x.String()
	}
	if scale <= 0 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if int64(len(s)) <= scale {
		s = strings.Repeat("0", int(scale)-len(s)+1) + s
	}
	s = s[:len(s)-int(scale)] + "." + s[len(s)-int(scale):]
	if neg {
		s = "-" + s
	}
	return s
}

// jsonValue writes one normalized value as a JSON result set holds it.
func jsonValue(v any, rt *rowType) *string {
	if v == nil {
		return nil
	}
	var s string
	switch rt.Type {
	case "fixed":
		s = formatScaled(v, rt.Scale)
	case "real":
		s = strconv.FormatFloat(v.(float64), 'g', -1, 64)
	case "boolean":
		s = "0"
		if v.(bool) {
			s = "1"
		}
	case "date":
		s = strconv.FormatInt(v.(time.Time).Unix()/86400, 10)
	case "timestamp_ntz", "timestamp_ltz":
		s = epochText(v.(time.Time), rt.Scale)
	case "timestamp_tz":
		t := v.(time.Time)
		_, off := t.Zone()
		s = epochText(t, rt.Scale) + " " + strconv.Itoa(off/60+1440)
	case "binary":
		s = hex.EncodeToString(v.([]byte))
	default:
		s = v.(string)
	}
	return &s
}

// epochText is seconds since the epoch with scale fractional digits: the
// seconds are floored, the fraction is positive, as the driver reads them.
func epochText(t time.Time, scale int64) string {
	sec := strconv.FormatInt(t.Unix(), 10)
	if scale <= 0 {
		return sec
	}
	scale = min(scale, 9)
	frac := fmt.Sprintf("%09d", t.Nanosecond())[:scale]
	return sec + "." + frac
}

// Canonical text forms of times as the server stores them in SQLite (bound
// values and the query history): fixed-width, so that text comparisons in
// a WHERE clause order them as times.
const (
	canonicalNTZ = "2006-01-02 15:04:05.000000000"
	canonicalTZ  = "2006-01-02 15:04:05.000000000-07:00"
)

var timeLayouts = []string{
	canonicalTZ,
	"2006-01-02 15:04:05.999999999 -0700 MST", // time.Time.String
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999 -07:00",
	"2006-01-02 15:04:05.999999999 -0700",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	time.DateOnly,
}

// parseTime reads a time in any of timeLayouts, trying first the layouts
// of its shape (with an offset or without), since a failed time.Parse
// costs as much as a successful one.
func parseTime(s string) (time.Time, bool) {
	zoned := len(s) > 10 && (strings.ContainsAny(s[10:], "+Z") || strings.Contains(s[10:], "-") || strings.Contains(s, " UTC"))
	for pass := range 2 {
		for _, l := range timeLayouts {
			lz := strings.Contains(l, "07")
			if (lz == zoned) == (pass == 1) {
				continue
			}
			if t, err := time.Parse(l, s); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}
