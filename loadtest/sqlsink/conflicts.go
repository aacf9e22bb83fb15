package sqlsink

import (
	"context"
	"strings"
	"time"

	"github.com/startline/startline/internal/backoff"
)

// conflictAttempts is how many times a transaction that lost a deadlock or
// a serialization conflict is tried in all.
const conflictAttempts = 10

// retryConflicts runs tx again while it fails with a deadlock or a
// serialization failure (SQLSTATE 40001 or 40P01), at most
// conflictAttempts times in all, after a short jittered pause. Nodes that
// write their results at once make such conflicts: InnoDB's gap locks on
// the DELETE before the INSERT deadlock two writers of different nodes,
// and the database rolls one back expecting it to be tried again.
func retryConflicts(ctx context.Context, tx func() error) error {
	pause := backoff.Backoff{Initial: 5 * time.Millisecond, Max: 500 * time.Millisecond, Jitter: 0.5}
	for attempt := 1; ; attempt++ {
		err := tx()
		if err == nil || attempt == conflictAttempts || !conflict(err) {
			return err
		}
		if pause.Sleep(ctx) != nil {
			return err
		}
	}
}

// conflict reports whether err is a deadlock or serialization failure. The
// drivers report the SQLSTATE in their messages (MySQL "Error 1213
// (40001)", pgx "(SQLSTATE 40P01)"); sqlsink imports no driver to ask
// their types.
func conflict(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "40001") || strings.Contains(msg, "40P01")
}
