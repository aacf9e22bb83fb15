package sqlcoord

import "context"

// Notifier is an optional push channel beside the tables: it wakes waiting
// workers at once when the run row or the events change, instead of at their
// next poll. Package pgnotify implements it with PostgreSQL's LISTEN/NOTIFY.
//
// A notification carries no data: the tables stay the truth. A worker
// subscribes first and reads the row after, so a notification sent between
// the two is not needed, and one lost on the way costs at most one poll
// interval. Implementations must be safe for concurrent use.
type Notifier interface {
	// Subscribe starts listening on channel for notifications whose key is
	// key. The subscription is live when Subscribe returns.
	Subscribe(ctx context.Context, channel, key string) (Subscription, error)
	// Notify wakes every subscription to channel and key.
	Notify(ctx context.Context, channel, key string) error
}

// Subscription is one live subscription of a Notifier.
type Subscription interface {
	// C receives a value after one or more notifications (it has a buffer
	// of one and coalesces); it is never closed.
	C() <-chan struct{}
	// Close ends the subscription and releases what it holds. It is safe to
	// call more than once.
	Close() error
}
