package snowflake

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/snowflakedb/gosnowflake"

	"github.com/startline/startline/pool"
)

// ErrLogin is matched (errors.Is) by every [*LoginError].
var ErrLogin = errors.New("snowflake: login failed")

// ErrInvalidSettings is matched (errors.Is) by every [*SettingsError].
var ErrInvalidSettings = errors.New("snowflake: invalid settings")

// SettingsError reports an Options or Settings field that cannot be used.
type SettingsError struct {
	Field string // e.g. "Settings.Warehouse"
	Err   error
}

func (e *SettingsError) Error() string { return "snowflake: " + e.Field + ": " + e.Err.Error() }

// Unwrap returns ErrInvalidSettings and the cause.
func (e *SettingsError) Unwrap() []error { return []error{ErrInvalidSettings, e.Err} }

// LoginError reports a login that failed, after Attempts tries. Its text
// names the account, the host and the user, and never holds the password or
// a token: the driver's message is scrubbed of them.
type LoginError struct {
	Account  string
	Host     string // host:port
	User     string
	Attempts int
	Err      error // the driver's error

	secrets []string // scrubbed from Err's text
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("snowflake: login to account %q at %s as user %q failed after %d attempt(s): %s",
		e.Account, e.Host, e.User, e.Attempts, redact(e.Err.Error(), e.secrets))
}

// Unwrap returns the driver's error, so that errors.As finds a
// *gosnowflake.SnowflakeError.
func (e *LoginError) Unwrap() error { return e.Err }

// Is reports whether target is ErrLogin.
func (e *LoginError) Is(target error) bool { return target == ErrLogin }

// redact replaces every secret in s, and its URL-escaped forms, with ***.
// Secrets shorter than 4 bytes are left alone: scrubbing them would mangle
// the message and hide nothing worth hiding.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue
		}
		s = strings.ReplaceAll(s, sec, "***")
		// A URL quotes it escaped as a query value (space as '+'), a path
		// segment or a password in the userinfo, each a little apart.
		userinfo := strings.TrimPrefix(url.UserPassword("", sec).String(), ":")
		for _, esc := range []string{url.QueryEscape(sec), url.PathEscape(sec), userinfo} {
			if esc != sec {
				s = strings.ReplaceAll(s, esc, "***")
			}
		}
	}
	return s
}

// exhausted matches the driver's error when its own retries of a throttled
// (429) or unavailable (5xx) server ran out.
var exhausted = regexp.MustCompile(`HTTP Status: (429|5\d\d)\b`)

// IsRetryable is the default Options.Retryable: it reports whether a login
// error is worth another try after a pause. It holds for a throttled or
// unavailable server (HTTP 429 or 5xx after the driver's own retries, or
// the driver's "service unavailable"), and not for anything that another
// try cannot fix: wrong credentials, an unknown account, an unreachable
// host (the driver already retried the connection within its login
// timeout), a cancelled context.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *gosnowflake.SnowflakeError
	if errors.As(err, &se) && se.Number == gosnowflake.ErrCodeServiceUnavailable {
		return true
	}
	return exhausted.MatchString(err.Error())
}

// ClassifyError implements pool.Classifier: what a Runner cannot tell from
// Snowflake's errors by itself, since a *gosnowflake.SnowflakeError
// carries its SQLSTATE in a field, not a method.
//
//   - A login error worth another try (Options.Retryable, IsRetryable by
//     default: a throttled or unavailable server) is of kind connection
//     and retryable: a Runner retries pool.init when the pool's own login
//     retries ran out. Any other login error (wrong credentials, an
//     unknown account) is not retryable, of kind sql when Snowflake
//     rejected the login with a code, of the kind pool.Classify gives
//     otherwise.
//   - A statement's error with a SQLSTATE is of the kind pool.SQLStateKind
//     gives: a statement timeout (000630, SQLSTATE 57014) is a timeout,
//     class 08 a lost connection, the rest (a compilation error, a missing
//     object) sql. Only the connection kind is retryable.
//   - Anything else is left to the Runner's own classification.
func (p *Pool) ClassifyError(err error) (kind pool.ErrorKind, retryable, ok bool) {
	var le *LoginError
	if errors.As(err, &le) {
		if p.opts.Retryable(le.Err) {
			return pool.KindConnection, true, true
		}
		var se *gosnowflake.SnowflakeError
		if errors.As(le.Err, &se) && !errors.Is(le.Err, context.Canceled) && !errors.Is(le.Err, context.DeadlineExceeded) {
			return pool.KindSQL, false, true
		}
		return pool.Classify(le.Err), false, true
	}
	var se *gosnowflake.SnowflakeError
	if errors.As(err, &se) {
		if se.Number == gosnowflake.ErrCodeServiceUnavailable {
			return pool.KindConnection, true, true
		}
		if se.SQLState != "" {
			k := pool.SQLStateKind(se.SQLState)
			return k, k == pool.KindConnection, true
		}
	}
	return 0, false, false
}
