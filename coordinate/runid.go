package coordinate

import (
	"fmt"
	"regexp"
)

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidRunID reports whether id can name a run: 1 to 64 letters, digits,
// '_', '.' or '-', starting with a letter or digit. Such an id is safe in a
// file name, an SQL string, a NATS subject or bucket name and a log line, so
// every package that names a run (the Runner's Config, every coordinator
// backend, the results store) validates it here, with one rule. The error
// quotes id, says the rule, and matches ErrInvalid (without repeating its
// text, so that callers can prefix the field it came from).
func ValidRunID(id string) error {
	if !runIDPattern.MatchString(id) {
		return runIDError{fmt.Sprintf("run id %q: want 1-64 of [A-Za-z0-9_.-], starting with a letter or digit", id)}
	}
	return nil
}

type runIDError struct{ msg string }

func (e runIDError) Error() string { return e.msg }
func (e runIDError) Unwrap() error { return ErrInvalid }
