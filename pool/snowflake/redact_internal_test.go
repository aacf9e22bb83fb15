package snowflake

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestLoginErrorRedacts checks the scrubbing itself with a driver error that
// quotes the secret, raw and URL-escaped (the driver's own messages do not,
// so the end-to-end tests cannot provoke it).
func TestLoginErrorRedacts(t *testing.T) {
	const pw = "p@ss w0rd!"
	e := &LoginError{Account: "acct", Host: "h:443", User: "u", Attempts: 2,
		Err:     errors.New(`Post "https://h/login?password=p%40ss+w0rd%21": bad p@ss w0rd!`),
		secrets: []string{pw, "", "abc"}}
	msg := e.Error()
	assert.NotContains(t, msg, pw)
	assert.NotContains(t, msg, "p%40ss+w0rd%21")
	assert.Contains(t, msg, `login to account "acct" at h:443 as user "u" failed after 2 attempt(s)`)
	assert.ErrorIs(t, e, ErrLogin)
	assert.Equal(t, "a short abc stays", redact("a short abc stays", []string{"abc"}))
}

func TestDSNSecrets(t *testing.T) {
	assert.Equal(t, []string{"pw:x"}, dsnSecrets("user:pw:x@acct/db?warehouse=w"))
	assert.Nil(t, dsnSecrets("acct/db"))
}
