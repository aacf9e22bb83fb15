package dialect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxIdentLen is the longest identifier part, in bytes, that [ValidIdent]
// accepts. Each Dialect may accept less (PostgreSQL truncates names beyond
// 63 bytes, which would silently name another table).
const MaxIdentLen = 128

// maxParts bounds how many dot-separated parts a name may have:
// database.schema.table is the longest form any supported database uses.
const maxParts = 3

// ErrBadIdent is wrapped by every error about an identifier that cannot be
// used: empty, too long, or holding a character other than ASCII letters,
// digits and underscores.
var ErrBadIdent = errors.New("dialect: bad identifier")

// ErrUnknownDriver is wrapped by the error [ForDriver] returns for a driver
// name it has no dialect for.
var ErrUnknownDriver = errors.New("dialect: unknown driver")

// Dialect describes one SQL database. The zero value is not usable: its
// Ident returns an error. Use a predefined value or [ForDriver].
type Dialect struct {
	name        string
	quote       byte   // identifier delimiter, opening and closing
	upper       bool   // upper-case identifiers before quoting (Snowflake)
	maxLen      int    // longest identifier part in bytes
	dollarParam bool   // placeholders are $1, $2, ... instead of ?
	random      string // random-ordering function call
}

// Predefined dialects. Limits are the databases' own identifier limits in
// bytes; SQLite has none, so the package-wide [MaxIdentLen] applies.
var (
	// Postgres is PostgreSQL (and servers speaking its dialect).
	Postgres = Dialect{name: "postgres", quote: '"', maxLen: 63, dollarParam: true, random: "RANDOM()"}
	// MySQL is MySQL and MariaDB.
	MySQL = Dialect{name: "mysql", quote: '`', maxLen: 64, random: "RAND()"}
	// SQLite is SQLite. Names are quoted with backticks, not double quotes:
	// SQLite reads a double-quoted name that matches no column as a string
	// literal, so a misspelt column would silently yield its own name as
	// every value. A backtick-quoted name is always an identifier.
	SQLite = Dialect{name: "sqlite", quote: '`', maxLen: MaxIdentLen, random: "RANDOM()"}
	// Snowflake is Snowflake; identifiers are upper-cased before quoting
	// (see the package documentation).
	Snowflake = Dialect{name: "snowflake", quote: '"', upper: true, maxLen: MaxIdentLen, random: "RANDOM()"}
)

// ForDriver returns the dialect of a database/sql driver name: "pgx",
// "pgx/v5" and "postgres" are [Postgres], "sqlite" and "sqlite3" are
// [SQLite], "mysql" is [MySQL] and "snowflake" is [Snowflake].
func ForDriver(driverName string) (Dialect, error) {
	switch driverName {
	case "pgx", "pgx/v5", "postgres":
		return Postgres, nil
	case "sqlite", "sqlite3":
		return SQLite, nil
	case "mysql":
		return MySQL, nil
	case "snowflake":
		return Snowflake, nil
	}
	return Dialect{}, fmt.Errorf("%w %q (known: pgx, pgx/v5, postgres, sqlite, sqlite3, mysql, snowflake)", ErrUnknownDriver, driverName)
}

// Name returns the dialect's name: "postgres", "mysql", "sqlite" or
// "snowflake"; "" for the zero Dialect.
func (d Dialect) Name() string { return d.name }

// String returns the dialect's name, as Name.
func (d Dialect) String() string { return d.name }

// Ident validates name as [ValidIdent] does, with the dialect's own length
// limit, and returns it quoted for the dialect: "orders" for PostgreSQL,
// `orders` for MySQL and SQLite, "ORDERS" for Snowflake. Each part of a
// qualified name is quoted on its own ("app"."orders").
//
// Since a valid name holds no quote characters, no escaping is ever needed:
// the result is safe to splice into SQL text.
func (d Dialect) Ident(name string) (string, error) {
	if d.quote == 0 {
		return "", fmt.Errorf("%w %q: zero Dialect; use a predefined one or ForDriver", ErrBadIdent, name)
	}
	if err := validIdent(name, d.maxLen); err != nil {
		return "", err
	}
	if d.upper {
		name = strings.ToUpper(name) // ASCII only, so byte lengths are unchanged
	}
	var b strings.Builder
	b.Grow(len(name) + 2*maxParts)
	b.WriteByte(d.quote)
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			b.WriteByte(d.quote)
			b.WriteByte('.')
			b.WriteByte(d.quote)
			continue
		}
		b.WriteByte(name[i])
	}
	b.WriteByte(d.quote)
	return b.String(), nil
}

// Placeholder returns the n-th (1-based) query parameter placeholder: $n
// for PostgreSQL, ? for the others.
func (d Dialect) Placeholder(n int) string {
	if d.dollarParam {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// Random returns the function call that orders rows at random, for
// ORDER BY: RANDOM() or RAND().
func (d Dialect) Random() string { return d.random }

// ValidIdent reports whether name can be used as an identifier in any
// dialect: one to three dot-separated parts (table, schema.table,
// database.schema.table), each matching ^[A-Za-z_][A-Za-z0-9_]*$ and at most
// [MaxIdentLen] bytes. The error wraps [ErrBadIdent], quotes name and says
// what is wrong with it.
func ValidIdent(name string) error { return validIdent(name, MaxIdentLen) }

func validIdent(name string, maxLen int) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrBadIdent, name, fmt.Sprintf(format, args...))
	}
	if name == "" {
		return bad("empty")
	}
	parts, start := 1, 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			c := name[i]
			switch {
			case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			case '0' <= c && c <= '9':
				if i == start {
					return bad("part %d starts with digit %q", parts, c)
				}
			default:
				if c >= 0x80 {
					return bad("non-ASCII byte 0x%02x at offset %d; only letters, digits and underscores are allowed", c, i)
				}
				return bad("character %q at offset %d; only letters, digits and underscores are allowed", c, i)
			}
			continue
		}
		// End of a part.
		switch n := i - start; {
		case n == 0:
			return bad("part %d is empty", parts)
		case n > maxLen:
			return bad("part %d is %d bytes long, more than the limit of %d", parts, n, maxLen)
		}
		if i < len(name) {
			parts++
			if parts > maxParts {
				return bad("more than %d dot-separated parts", maxParts)
			}
			start = i + 1
		}
	}
	return nil
}

// Column is a portable kind of column. Each Dialect spells it as its own
// type (see [Dialect.Type]), so that every table this module creates (the
// results store's, the SQL coordinator's) uses one mapping.
type Column int

// The kinds of column.
const (
	// ColID is a short identifier: a run id (at most 64 bytes) or a
	// status. It is VARCHAR(64) everywhere: short enough that MySQL can
	// index several in one key.
	ColID Column = iota
	// ColName is a name of at most 255 bytes: a node, an operation, a phase.
	ColName
	// ColText is text of any length: JSON documents, error messages.
	ColText
	// ColInt is a 64-bit integer, such as Unix nanoseconds or a count.
	ColInt
	// ColFloat is a 64-bit floating-point number.
	ColFloat
	// ColTime is an instant with its time zone (RFC 3339 text on SQLite,
	// which has no time type).
	ColTime
)

// Type returns the column type that holds c in d, without NOT NULL or
// defaults. It returns "" for the zero Dialect or an unknown Column.
//
// Integers are BIGINT in every dialect; on Snowflake BIGINT is a synonym
// of NUMBER(38,0), which holds every int64.
func (d Dialect) Type(c Column) string {
	if d.name == "" {
		return ""
	}
	switch c {
	case ColID:
		return "VARCHAR(64)"
	case ColName:
		return "VARCHAR(255)"
	case ColInt:
		return "BIGINT"
	case ColText:
		switch d.name {
		case "mysql":
			return "LONGTEXT" // TEXT stops at 64 KiB
		case "snowflake":
			return "VARCHAR" // 16 MiB
		}
		return "TEXT"
	case ColFloat:
		switch d.name {
		case "postgres":
			return "DOUBLE PRECISION"
		case "mysql":
			return "DOUBLE"
		case "snowflake":
			return "FLOAT"
		}
		return "REAL"
	case ColTime:
		switch d.name {
		case "postgres":
			return "TIMESTAMPTZ"
		case "mysql":
			return "DATETIME(6)"
		case "snowflake":
			return "TIMESTAMP_TZ"
		}
		return "TEXT"
	}
	return ""
}

// Rebind returns query with each "?" placeholder outside single-quoted
// literals replaced by the dialect's own (see [Dialect.Placeholder]),
// numbered from 1 in the order they appear. Statements can then be written
// once, with "?", for every dialect.
func (d Dialect) Rebind(query string) string {
	if !d.dollarParam {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted // '' inside a literal toggles twice
		case c == '?' && !quoted:
			n++
			b.WriteString(d.Placeholder(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
