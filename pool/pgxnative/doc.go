// Package pgxnative adapts a native github.com/jackc/pgx/v5/pgxpool pool to
// [pool.Pool], for PostgreSQL load tests that want pgx's own protocol path
// rather than database/sql.
//
// The package is not called pgxpool so that it can be imported next to
// github.com/jackc/pgx/v5/pgxpool without renaming either.
//
// Warm acquires N connections at once through pgxpool, pings each and gives
// them back, so that N are idle when the run starts; it refuses, with an
// error naming MaxConns, to warm more than the pool may hold. pgxpool closes
// idle connections only beyond MinConns after MaxConnIdleTime (30 minutes by
// default), and every connection after MaxConnLifetime (1 hour): set them
// longer in the config for longer waits before the start signal.
//
// A session pins one *pgxpool.Conn for the worker's whole run. Query relies
// on pgx's per-connection statement cache (QueryExecModeCacheStatement, the
// default), so each query text is prepared once per connection. Hot paths
// can call [Session.Conn] for typed arguments and scans.
//
// The Pool owns the *pgxpool.Pool it is given: Close closes it. Errors never
// contain the connection password.
package pgxnative
