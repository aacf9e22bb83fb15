package sqlcoord

import (
	"context"

	"github.com/startline/startline/coordinate"
)

// Notifier is an optional push channel beside the tables: it wakes waiting
// members at once when the run's row or the events change, instead of at
// their next poll. Package pgnotify implements it with PostgreSQL's
// LISTEN/NOTIFY.
//
// A notification carries no data: the tables stay the truth. A member
// subscribes first and reads the row after, so a notification sent between
// the two is not needed, and one lost on the way costs at most one poll
// interval. Implementations must be safe for concurrent use.
type Notifier interface {
	// Subscribe starts listening on channel for notifications whose key is
	// key. The subscription is live when Subscribe returns.
	Subscribe(ctx context.Context, channel, key string) (coordinate.Subscription, error)
	// Notify wakes every subscription to channel and key.
	Notify(ctx context.Context, channel, key string) error
	// Name names the coordinator that the tables make with this notifier,
	// as a merged result reports it (package pgnotify: "pgnotify").
	Name() string
}
