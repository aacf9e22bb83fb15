package coordinate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/startline/startline/coordinate"
)

// FuzzValidRunID checks ValidRunID against the rule it documents: 1 to 64
// letters, digits, '_', '.' or '-', starting with a letter or digit. What
// it accepts is safe in a file name, a SQL string and a log line.
func FuzzValidRunID(f *testing.F) {
	for _, s := range []string{"run-1", "a", "A.b_c-d", "", "-x", ".x", "_x", "a b", "a/b", "..",
		"a'b", "a;DROP TABLE x", "é", strings.Repeat("r", 64), strings.Repeat("r", 65), "a\x00", "a\n", "a*", "a>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := coordinate.ValidRunID(id)
		ok := len(id) >= 1 && len(id) <= 64
		for i := 0; ok && i < len(id); i++ {
			c := id[i]
			alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
			ok = alnum || i > 0 && (c == '_' || c == '.' || c == '-')
		}
		if ok != (err == nil) {
			t.Fatalf("ValidRunID(%q) = %v, the rule says valid=%v", id, err, ok)
		}
		if err != nil && !errors.Is(err, coordinate.ErrInvalid) {
			t.Fatalf("ValidRunID(%q) = %v, want an error wrapping ErrInvalid", id, err)
		}
	})
}
