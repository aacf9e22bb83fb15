package snowflake

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRedactEscapedForms checks that a secret quoted back in any of its URL
// forms is scrubbed: as a query value (space as '+') and in a path or
// userinfo (space as %20).
func TestRedactEscapedForms(t *testing.T) {
	const pw = "p@ss w0rd/x:y"
	for _, s := range []string{
		"raw " + pw,
		"query ?password=" + url.QueryEscape(pw),
		"path /" + url.PathEscape(pw),
		"userinfo " + url.UserPassword("u", pw).String(),
	} {
		got := redact(s, []string{pw})
		assert.NotContains(t, got, "w0rd", "%q became %q", s, got)
		assert.Contains(t, got, "***")
	}
}
