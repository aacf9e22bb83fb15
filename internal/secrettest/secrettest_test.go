package secrettest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/startline/startline/internal/secrettest"
)

// TestFind checks that every form a leak takes is found, and clean text
// is not: the secret tests are only as good as this.
func TestFind(t *testing.T) {
	js, err := json.Marshal(secrettest.Special)
	assert.NoError(t, err)
	for _, leak := range []string{
		"password=" + secrettest.Secret,
		"postgres://u:" + url.QueryEscape(secrettest.Special) + "@h/db",
		"postgres://" + url.UserPassword("u", secrettest.Special).String() + "@h/db",
		url.PathEscape(secrettest.Special),
		string(js),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(secrettest.Secret)),
		base64.RawURLEncoding.EncodeToString([]byte(secrettest.Special)),
	} {
		assert.NotEmpty(t, secrettest.Find(leak), "%q", leak)
	}
	for _, clean := range []string{"", "password=***", "s3cr3t", "PLANTED", "user \"u\" failed"} {
		assert.Empty(t, secrettest.Find(clean), "%q", clean)
	}
	var r recorder
	assert.False(t, secrettest.Check(&r, "the log", "a "+secrettest.Secret+" b"))
	assert.Len(t, r.errs, 1)
	assert.Contains(t, r.errs[0], "secret leaked into the log")
	assert.True(t, secrettest.Check(&r, "x", "clean"))
	assert.True(t, secrettest.CheckErr(&r, "x", nil))
	assert.Len(t, r.errs, 1)
}

// recorder is a secrettest.Reporter that keeps the failures.
type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
