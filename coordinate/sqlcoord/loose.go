package sqlcoord

import (
	"fmt"
	"math"
	"strconv"
)

// looseInt scans an integer column that a loosely typed database (SQLite
// above all) or a hostile writer may have filled with something else. Its
// Scan never fails, so that one bad column does not fail the whole row
// scan, and the row can be skipped on its own: Err says what was wrong.
// It accepts an int64, a float64 holding a whole number in range, and
// decimal digit text (with an optional sign); NULL leaves Valid false.
type looseInt struct {
	Int64 int64
	Valid bool  // false for NULL
	Err   error // set when the value is not an integer
}

// Scan implements sql.Scanner.
func (l *looseInt) Scan(src any) error {
	*l = looseInt{}
	switch v := src.(type) {
	case nil:
		return nil
	case int64:
		l.Int64, l.Valid = v, true
	case float64:
		// 2^63 is exactly representable; every float below it in magnitude
		// converts without overflow.
		if v != math.Trunc(v) || v < math.MinInt64 || v >= math.MaxInt64 {
			l.Err = fmt.Errorf("%v is not a whole number in range", v)
			return nil
		}
		l.Int64, l.Valid = int64(v), true
	case string:
		l.parse(v)
	case []byte:
		l.parse(string(v))
	default:
		l.Err = fmt.Errorf("value of type %T is not an integer", src)
	}
	return nil
}

func (l *looseInt) parse(s string) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		const max = 40
		if len(s) > max {
			s = s[:max] + "..."
		}
		l.Err = fmt.Errorf("%q is not an integer", s)
		return
	}
	l.Int64, l.Valid = n, true
}

// rawKey names a row whose key could not be read, for the warning the kit
// logs once: the key as read, whatever its type.
func rawKey(v any) string {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case nil:
		return "NULL"
	}
	return fmt.Sprint(v)
}
