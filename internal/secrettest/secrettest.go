package secrettest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
)

// Marker is part of every planted secret. Its characters are letters,
// digits and '-', which URL, JSON and SQL escaping leave as they are.
const Marker = "PLANTED-9f8e"

// Secret is a plain planted secret, usable anywhere (a DSN's password
// needs no escaping for it).
const Secret = "s3cr3t-" + Marker

// Special is a planted secret with the characters that DSN parsers and
// escapers treat specially ('@', '/', ':', ' ', '%', '\”, '"'), so that a
// secret is also looked for after it went through an escaper.
const Special = `p@ss/w:rd 'q"` + Marker + `%`

// Forms returns the forms in which secret may appear in an output: as
// written, URL query- and path-escaped, and base64-encoded (standard and
// URL alphabets, with and without padding).
func Forms(secret string) []string {
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(secret)))
	}
	return forms
}

// Find reports the first form of a planted secret found in text: the
// Marker (which every escaped form of Secret and Special holds), or a
// base64 form of Secret or Special. It returns "" when text holds none.
func Find(text string) string {
	if strings.Contains(text, Marker) {
		return Marker
	}
	for _, s := range []string{Secret, Special} {
		for _, f := range Forms(s) {
			if strings.Contains(text, f) {
				return f
			}
		}
	}
	return ""
}

// Reporter is the part of testing.TB that Check uses.
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// Check fails t (without stopping it) if text holds a planted secret,
// naming where the text came from and quoting the text around the leak.
// It returns whether text was clean.
func Check(t Reporter, where, text string) bool {
	t.Helper()
	f := Find(text)
	if f == "" {
		return true
	}
	i := strings.Index(text, f)
	lo, hi := max(0, i-80), min(len(text), i+len(f)+80)
	t.Errorf("secret leaked into %s (as %q): ...%s...", where, f, text[lo:hi])
	return false
}

// CheckErr is Check for an error's text; a nil error is clean.
func CheckErr(t Reporter, where string, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	return Check(t, where, err.Error()+"\n"+fmt.Sprintf("%+v", err))
}

// Buffer is a bytes.Buffer that is safe for concurrent use, for log
// handlers written to by many goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logger returns a logger that writes every record, at every level, as
// JSON to the returned buffer.
func Logger() (*slog.Logger, *Buffer) {
	buf := new(Buffer)
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// DumpSQLite returns every row of every table of a SQLite database as
// text, one row a line after the table's name, for Check.
func DumpSQLite(ctx context.Context, db *sql.DB) (string, error) {
	names, err := tableNames(ctx, db)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, name := range names {
		// The name comes from sqlite_master; a backtick inside it is
		// doubled, as SQLite's quoting rules say.
		rows, err := db.QueryContext(ctx, "SELECT * FROM `"+strings.ReplaceAll(name, "`", "``")+"`")
		if err != nil {
			return "", fmt.Errorf("secrettest: reading %s: %w", name, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return "", err
		}
		fmt.Fprintf(&b, "table %s\n", name)
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return "", err
			}
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%s=%v\t", cols[i], v)
			}
			b.WriteByte('\n')
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func tableNames(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("secrettest: listing tables: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}
