// Package dialect holds what differs between the SQL databases startline
// talks to: how identifiers are quoted, how placeholders are written, and
// which function orders rows at random.
//
// The profiler, the SQL coordinator and the results sink build a few
// statements from names given in configuration (table and column names).
// Those names cannot be passed as query parameters, so they are spliced into
// the SQL text. [Dialect.Ident] makes that safe: it accepts only plain
// identifiers (letters, digits and underscores, not starting with a digit,
// optionally qualified as "schema.table" or "database.schema.table") and
// returns them quoted for the database. Anything else, including every name
// that would need escaping, is rejected with an error wrapping [ErrBadIdent].
//
// The predefined values [Postgres], [MySQL] (also MariaDB), [SQLite] and
// [Snowflake] cover the supported databases; [ForDriver] picks one from a
// database/sql driver name. A Dialect is a small immutable value, safe for
// concurrent use.
//
// # Case of identifiers
//
// Quoting makes an identifier case-sensitive in PostgreSQL and Snowflake.
// PostgreSQL folds unquoted names to lower case and most schemas are created
// unquoted, so pass the lower-case name. Snowflake folds unquoted names to
// upper case; [Snowflake.Ident] upper-cases the name before quoting it, so
// that "orders" refers to the table created as orders (stored as ORDERS). A
// Snowflake object created with a quoted mixed- or lower-case name cannot be
// reached through this package. MySQL and SQLite compare quoted and unquoted
// names alike, so their names are quoted as given.
package dialect
