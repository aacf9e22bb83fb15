package dialect

import "time"

// NowMicros returns a SELECT-able expression for the database server's
// current wall-clock time as an integer count of microseconds since the Unix
// epoch, and the resolution of that clock. Coordinators use it to measure
// how far a host's clock is from the database's (see coordinate.Clocked).
//
// The expression reads the clock when it is evaluated, not when the
// transaction began (PostgreSQL's clock_timestamp, not now). SQLite's
// julianday('now') has millisecond resolution only; MySQL's NOW(6) and
// Snowflake's SYSDATE() have microseconds. The zero Dialect returns "".
func (d Dialect) NowMicros() (expr string, resolution time.Duration) {
	switch d.name {
	case "postgres":
		return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)", time.Microsecond
	case "mysql":
		return "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)", time.Microsecond
	case "sqlite":
		return "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) * 1000 AS INTEGER)", time.Millisecond
	case "snowflake":
		return "DATE_PART(EPOCH_MICROSECOND, SYSDATE())", time.Microsecond
	}
	return "", 0
}
