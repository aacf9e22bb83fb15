// Package snowflaketest runs a local server that speaks the part of
// Snowflake's HTTP protocol that github.com/snowflakedb/gosnowflake uses, so
// that the Snowflake adapter, and whole coordinated runs, can be tested
// without a Snowflake account.
//
// A [Server] is an httptest-style server: [New] starts it on a loopback
// port, [Server.Config] and [Server.DSN] return driver settings that reach it
// over plain HTTP with every switch that keeps the driver off the network
// (telemetry, OCSP and platform detection off, short login timeout, few
// retries), and [Server.Close] stops it.
//
// # What it answers
//
//   - login (/session/v1/login-request): checks account, user and password;
//     applies the login's warehouse and session parameters to the session
//   - query and exec (/queries/v1/query-request): JSON rowsets with the row
//     type metadata the driver decodes (fixed, real, text, boolean,
//     timestamp_ntz, binary), DML row counts, bind parameters
//   - session close (/session?delete=true), token renewal
//     (/session/token-request), query abort, heartbeat and telemetry
//
// Statements run against an embedded SQLite database (modernc.org/sqlite),
// after a light translation where Snowflake SQL differs: :N placeholders,
// CURRENT_TIMESTAMP() and SYSDATE(), CREATE OR REPLACE TABLE, TRANSIENT
// tables. ALTER SESSION SET/UNSET, USE WAREHOUSE/DATABASE/SCHEMA/ROLE, ALTER
// WAREHOUSE ... RESUME/SUSPEND and BEGIN/COMMIT/ROLLBACK are handled by the
// server itself and recorded; transactions are accepted but every statement
// commits on its own.
//
// # Faults
//
// A wrong password gets Snowflake's code 390100; an unknown account gets HTTP
// 403, as an unknown account host would; an SQL error carries a Snowflake
// code and SQLSTATE; [Server.ExpireSessions] makes the next statement of
// every session fail with 390112, after which the driver renews its token;
// [Server.FailNext] answers the next requests to an endpoint with an HTTP
// status (429 for a throttled login, 503 for a query the driver retries).
//
// # Latency
//
// [Options] adds latency per endpoint (login, query, insert, warehouse
// resume), so that the reference harness's situation can be reproduced: 100
// sessions at 150 ms per login, inserts at 100-200 ms.
//
// # Records
//
// [Server.Counters] counts logins, renewals, closes and more;
// [Server.Statements] lists every statement with its session, the QUERY_TAG
// in force and the session parameters, so tests can assert what a real
// account's query history would show.
//
// # What it does not prove
//
// Arrow result decoding (the server always answers in JSON), real warehouse
// queueing and concurrency limits, real login rate limits, and anything about
// SQL semantics beyond what SQLite shares with Snowflake.
package snowflaketest
