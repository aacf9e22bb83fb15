// Package pgnotify is the PostgreSQL fast path of the SQL coordinator: a
// sqlcoord.Notifier over LISTEN/NOTIFY, so that waiting nodes learn of the
// start (and running ones of control events) within a round trip instead
// of at their next poll. The tables with this notifier are the coordinator
// backend a merged result names "pgnotify".
//
// It lives apart from package sqlcoord so that sqlcoord does not import
// pgx: programs coordinating through MySQL, SQLite or Snowflake do not
// link it.
//
//	n, err := pgnotify.New("postgres://postgres@127.0.0.1:5432/test")
//	...
//	defer n.Close()
//	backend, err := sqlcoord.New(sqlcoord.Options{Tables: tables, RunID: "run-1", Notifier: n})
//
// A notification carries only the run id; the run's row stays the truth.
// A member subscribes before it first reads the row, so that a start
// published in between still wakes it, and a notification lost on the way
// (a broken listening connection, say) costs at most one poll interval.
// Each subscription holds a listening connection of its own; the sqlcoord
// backend shares one among all the members of a process.
package pgnotify
