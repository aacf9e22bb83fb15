// Package sqlpool adapts a database/sql *sql.DB, of any driver, to
// [pool.Pool].
//
// Warm makes database/sql keep every warmed connection idle rather than
// closing all but two of them (its default idle limit): it raises the DB's
// MaxIdleConns to at least the number warmed and turns off ConnMaxIdleTime,
// and it refuses, with an error naming MaxOpenConns, to warm more
// connections than the DB may open.
//
// By default a session pins one *sql.Conn for the whole run, so that a
// worker always talks to the same server session, and prepares each distinct
// query text once on it. [Options] turns either off.
//
// The Pool owns the *sql.DB it is given: Close closes it.
package sqlpool
