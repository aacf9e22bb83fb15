// Package snowflaketest runs a local server that speaks the part of
// Snowflake's HTTP protocol that github.com/snowflakedb/gosnowflake uses, so
// that the Snowflake adapter, and whole coordinated runs, can be tested
// without a Snowflake account. Behind the protocol it models a warehouse
// (slots, a queue, suspend and resume, clusters, the result cache) and
// keeps a query history that the INFORMATION_SCHEMA table functions read.
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
//     applies the login's warehouse (else [Options.DefaultWarehouse], as a
//     user's DEFAULT_WAREHOUSE) and session parameters to the session
//   - query and exec (/queries/v1/query-request): rows, DML row counts,
//     bind parameters, Snowflake error codes and SQLSTATEs
//   - session close (/session?delete=true), token renewal
//     (/session/token-request), query abort, heartbeat and telemetry
//
// Statements run against an embedded SQLite database (github.com/ncruces/go-sqlite3),
// after a light translation where Snowflake SQL differs: :N and ?
// placeholders, CURRENT_TIMESTAMP() and SYSDATE(),
// DATE_PART(EPOCH_MICROSECOND, SYSDATE()) and the other EPOCH_ parts of
// now (the server's clock as the statement runs, which sqlcoord reads as
// the database's clock), CREATE OR REPLACE TABLE, TRANSIENT tables,
// SYSTEM$WAIT. ALTER SESSION SET/UNSET, USE
// WAREHOUSE/DATABASE/SCHEMA/ROLE, CREATE/ALTER/DROP WAREHOUSE and
// BEGIN/COMMIT/ROLLBACK are handled by the server itself and recorded;
// transactions are accepted but every statement commits on its own.
//
// # Result formats
//
// A query's rows are answered in Arrow, as real accounts answer them: the
// response's rowsetBase64 holds an Arrow IPC stream (one schema, one record
// batch) and queryResultFormat is "arrow". They are answered in JSON
// (rowset, "json") when the session's GO_QUERY_RESULT_FORMAT is JSON: the
// parameter gosnowflake documents, which it sends like any other session
// parameter, either at login (Config.Params, or the DSN's parameters,
// become the login's SESSION_PARAMETERS) or by ALTER SESSION SET
// GO_QUERY_RESULT_FORMAT = 'JSON'; the server decides, the driver reads
// queryResultFormat. Any other value is refused with Snowflake's error for
// an invalid parameter value (001008). Results without rows of their own
// (DML counts, DDL and session statements' status) are always JSON:
// gosnowflake reads a DML's count from the JSON rowset only.
//
// Both encodings carry the response's rowtype (name, type, precision,
// scale, length, byteLength, nullable), and gosnowflake 1.19 decodes an
// Arrow column by it and by the Arrow array's type (arrowToValue in its
// converter.go), not by the Arrow field metadata; the server still writes
// the metadata real accounts write for other connectors (logicalType,
// precision, scale, charLength, byteLength, physicalType, finalType). The
// Arrow types per column:
//
//   - NUMBER (FIXED): the narrowest of Int8, Int16, Int32, Int64 that holds
//     every scaled value of the column, as real accounts choose per batch;
//     Decimal128 when a value needs more than 64 bits. A NUMBER(18,2)
//     holding 123456789.01 is the Int64 12345678901 with scale 2.
//   - FLOAT (REAL): Float64. TEXT: String. BOOLEAN: Boolean. BINARY:
//     Binary. DATE: Date32.
//   - TIMESTAMP_NTZ and _LTZ: Int64 in units of 10^-scale seconds up to
//     scale 7; above it a struct of epoch (Int64 seconds) and fraction
//     (Int32 nanoseconds).
//   - TIMESTAMP_TZ: a struct of epoch (units of 10^-scale) and timezone
//     (Int32, offset minutes + 1440) up to scale 3; above it epoch
//     (seconds), fraction and timezone.
//
// The scale thresholds (7 and 3) are an assumption: they are what the
// connectors are written to expect. The JSON encoding writes a NUMBER with
// exactly scale decimals ("1.50"), a timestamp as seconds.fraction (and "
// offset+1440" for _TZ), a date as days, a binary as hex, a boolean as 1
// or 0. The session's TIMEZONE, when set, is handed back in the login's
// and every response's parameters, as gosnowflake needs it to show
// TIMESTAMP_LTZ values in the session's zone.
//
// # Column types
//
// Every result column has a Snowflake type, found in this order:
//
//  1. The declared type of a table's column: CREATE TABLE's types are the
//     catalog, kept by SQLite in its schema and reported per result column
//     (sqlite3_column_decltype) for columns read directly from a table or
//     a simple subquery. NUMBER(p,s), DECIMAL, INT and its synonyms,
//     FLOAT/DOUBLE/REAL, VARCHAR/STRING/TEXT, BOOLEAN, DATE,
//     TIMESTAMP_NTZ/_LTZ/_TZ(p), TIMESTAMP and DATETIME (as NTZ, the
//     default TIMESTAMP_TYPE_MAPPING), BINARY/VARBINARY; VARIANT, OBJECT,
//     ARRAY, TIME and other types are served as TEXT.
//  2. What the select list says of an expression: CAST(... AS type),
//     COUNT(...) as NUMBER(18,0), CURRENT_TIMESTAMP() as TIMESTAMP_LTZ,
//     SYSDATE() and GETDATE() as TIMESTAMP_NTZ, CURRENT_DATE() as DATE,
//     TO_BOOLEAN(...) as BOOLEAN; used only when the select list lines up
//     with the result's columns (not for SELECT *).
//  3. A guess from the values of an expression column: integers
//     NUMBER(38,0), other numbers FLOAT, byte strings BINARY, anything else
//     TEXT. Snowflake would type SELECT 1.5 as NUMBER(2,1) and MAX(ts) as
//     the timestamp's type; the server says FLOAT and TEXT.
//
// Values are stored as SQLite stores them: a NUMBER with a scale is a
// float (exact to 15 significant digits, rounded half away from zero as
// written), a number beyond int64 a float, a timestamp text. A stored
// value that does not read as its column's type fails the query with
// Snowflake's conversion error (100038 numbers, 100037 booleans, 100035
// timestamps). Bound times are stored as fixed-width text (NTZ without an
// offset, LTZ in UTC, TZ with its offset), so that text comparisons order
// them.
//
// # Warehouse model
//
// Each rule below follows the Snowflake documentation named, or says that
// it is an assumption. The model is a model, not Snowflake's scheduler.
//
//   - Existence (assumption): every warehouse a session names exists, with
//     [Options.Warehouse]'s settings, and starts suspended, so that a test
//     starts cold. CREATE WAREHOUSE [OR REPLACE] [IF NOT EXISTS] name
//     [WITH] props creates one that starts resuming at once unless
//     INITIALLY_SUSPENDED = TRUE (CREATE WAREHOUSE,
//     https://docs.snowflake.com/en/sql-reference/sql/create-warehouse);
//     ALTER WAREHOUSE name SET/UNSET props changes it; DROP WAREHOUSE
//     drops it. Props: WAREHOUSE_SIZE, MAX_CONCURRENCY_LEVEL,
//     STATEMENT_QUEUED_TIMEOUT_IN_SECONDS, STATEMENT_TIMEOUT_IN_SECONDS,
//     AUTO_SUSPEND, AUTO_RESUME, MIN_CLUSTER_COUNT, MAX_CLUSTER_COUNT,
//     SCALING_POLICY (STANDARD only), INITIALLY_SUSPENDED.
//   - What needs the warehouse (assumption): DML, and queries that read a
//     table (have a FROM, which includes the QUERY_HISTORY functions).
//     DDL, session statements and queries of constants (the pool's ping,
//     SELECT 1) are answered by the cloud services layer without one, as
//     Snowflake's architecture splits them ("Key concepts and
//     architecture", https://docs.snowflake.com/en/user-guide/intro-key-concepts);
//     which statements a real account runs without a warehouse is not
//     documented precisely.
//   - Slots: a cluster runs at most MAX_CONCURRENCY_LEVEL statements at
//     once, default 8 ("Limiting concurrently running queries",
//     https://docs.snowflake.com/en/user-guide/performance-query-warehouse-max-concurrency).
//     The model counts statements; Snowflake also weighs what each
//     statement needs, so a real warehouse may queue earlier or later.
//   - Queue (assumption on the order): statements beyond the slots wait in
//     one FIFO queue per warehouse; the head takes the first free slot, on
//     the lowest-numbered cluster that has one. The wait is
//     QUEUED_OVERLOAD_TIME.
//   - Queue timeout: a statement that waited
//     STATEMENT_QUEUED_TIMEOUT_IN_SECONDS fails; 0 means no limit; set on
//     the session and on the warehouse, the smaller non-zero value applies
//     ("Parameters", https://docs.snowflake.com/en/sql-reference/parameters).
//     The error is 000630 (SQLSTATE 57014), the statement timeout's: an
//     assumption, since the documentation names no error of its own. The
//     timeout bounds the whole wait (provisioning included) and is fixed
//     when the statement arrives.
//   - Auto-suspend and resume: a running warehouse with no statement
//     running or queued for AUTO_SUSPEND seconds (default 600; 0 or NULL:
//     never) suspends; a statement that needs a suspended warehouse resumes
//     it when AUTO_RESUME is TRUE (the default) and fails with 000606
//     otherwise ("Overview of warehouses" and "Warehouse considerations",
//     https://docs.snowflake.com/en/user-guide/warehouses-overview,
//     https://docs.snowflake.com/en/user-guide/warehouses-considerations).
//     Resuming takes [Options.ResumeLatency]; the statements that wait for
//     it report the wait as QUEUED_PROVISIONING_TIME, "waiting for the
//     warehouse compute resources to provision, due to warehouse creation,
//     resume, or resize" ("QUERY_HISTORY",
//     https://docs.snowflake.com/en/sql-reference/functions/query_history).
//     Suspending exactly AUTO_SUSPEND after the last statement is an
//     assumption (Snowflake checks from time to time).
//   - ALTER WAREHOUSE name RESUME [IF SUSPENDED] / SUSPEND, as
//     pool/snowflake's warehouse.resume step sends it (ALTER WAREHOUSE
//     "WH" RESUME IF SUSPENDED): RESUME starts the warehouse and returns
//     once it is provisioned (assumption), so that the statements after it
//     pay no provisioning; RESUME of a running warehouse without IF
//     SUSPENDED fails with 090064; SUSPEND lets running statements finish.
//   - Multi-cluster scale-out, the standard policy: a resumed warehouse
//     starts MIN_CLUSTER_COUNT clusters; when a statement queues on a
//     running warehouse with fewer than MAX_CLUSTER_COUNT clusters, a
//     cluster starts at once, and each further one no sooner than 20
//     seconds after the one before ("Multi-cluster warehouses",
//     https://docs.snowflake.com/en/user-guide/warehouses-multicluster:
//     "The first cluster starts immediately when either a query is queued
//     or ... Each successive cluster waits to start 20 seconds after the
//     prior one has started"). A cluster beyond the minimum that is idle
//     for 2 minutes shuts down (the same page: after 2 to 3 consecutive
//     checks at 1-minute intervals). Assumptions: a new cluster takes
//     [WarehouseOptions.ClusterStartLatency] (default the resume latency)
//     to start, no cluster starts while another is still starting, and
//     ECONOMY is refused rather than modelled.
//   - Result cache: a SELECT whose text is identical to an earlier one's
//     (same bind values, role, database and schema) is answered from the
//     earlier result when USE_CACHED_RESULT is TRUE, its default: without
//     a slot, without execution time, even on a suspended warehouse; not
//     when the query calls functions evaluated at execution time
//     (CURRENT_TIMESTAMP, RANDOM, UUID_STRING, SEQ*, the QUERY_HISTORY
//     functions, SYSTEM$WAIT) ("Using persisted query results",
//     https://docs.snowflake.com/en/user-guide/querying-persisted-results;
//     USE_CACHED_RESULT in "Parameters"). USE_CACHED_RESULT is read from
//     the session (at login, as startline sets it to FALSE, or by ALTER
//     SESSION) and the statement's parameters. Assumptions: any DML or DDL
//     empties the whole cache (Snowflake tracks each table), a hit still
//     pays the compilation latency, and the cache holds at most 10,000
//     results instead of 24 hours' worth.
//   - Size: WAREHOUSE_SIZE is recorded and reported; the model gives a
//     larger warehouse neither more slots nor faster statements.
//
// # Latency
//
// [Options] adds latency to logins ([Options.LoginLatency]) and splits
// every statement's time as QUERY_HISTORY does:
//
//	TOTAL_ELAPSED_TIME = COMPILATION_TIME (Options.CompileLatency, and the cache lookup)
//	                   + QUEUED_PROVISIONING_TIME (waiting for a resume)
//	                   + QUEUED_OVERLOAD_TIME (waiting for a slot)
//	                   + EXECUTION_TIME (Options.QueryLatency, or InsertLatency for DML,
//	                     plus any SYSTEM$WAIT, plus SQLite's own time)
//	                   + the encoding of the result
//
// A [Latency] is fixed ([Fixed]), uniform ([Between]) or log-normal
// ([LogNormal]: a median and a 99th percentile), drawn once per statement
// phase with [Options.Seed]. STATEMENT_TIMEOUT_IN_SECONDS (the session's
// or the warehouse's, the smaller non-zero) bounds the execution: a
// statement whose execution would take longer fails with 000630 after the
// timeout. SYSTEM$WAIT(n [, 'unit']) holds a statement in its slot for
// that long, which is how tests fill a warehouse.
//
// # Query history
//
// The server records every statement, the history queries included, and
// serves them through the INFORMATION_SCHEMA table functions, in a FROM
// clause as Snowflake documents them ("QUERY_HISTORY, QUERY_HISTORY_BY_*",
// https://docs.snowflake.com/en/sql-reference/functions/query_history):
//
//	SELECT ... FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY(
//	    END_TIME_RANGE_START => ..., END_TIME_RANGE_END => ..., RESULT_LIMIT => ...))
//	QUERY_HISTORY_BY_SESSION([SESSION_ID => n,] ...)        default CURRENT_SESSION()
//	QUERY_HISTORY_BY_WAREHOUSE([WAREHOUSE_NAME => 'wh',] ...) default CURRENT_WAREHOUSE()
//	QUERY_HISTORY_BY_USER([USER_NAME => 'name',] ...)        default CURRENT_USER()
//
// All arguments are optional and named. RESULT_LIMIT is 100 by default, 1
// to 10,000; of the statements that match, those with the latest END_TIME
// are kept, those still running first. END_TIME_RANGE_START and _END bound
// END_TIME (both ends included, an assumption); without an
// END_TIME_RANGE_END, running statements are included (with EXECUTION_STATUS
// RUNNING, QUEUED or RESUMING_WAREHOUSE and no END_TIME), with it they are
// not. Argument values may be literals, bind variables, CURRENT_TIMESTAMP(),
// TO_TIMESTAMP[_LTZ|_NTZ|_TZ](x [, scale]), DATEADD(part, n, t),
// CURRENT_SESSION(), x::type. A time.Time bound without a type marker is a
// TIMESTAMP_NTZ to gosnowflake: the server reads it as UTC, a real account
// in the session's TIMEZONE; bind with gosnowflake.DataTypeTimestampLtz,
// or pass epoch milliseconds as TO_TIMESTAMP_LTZ(?, 3), for SQL that means
// the same on both. INCLUDE_CLIENT_GENERATED_STATEMENT is accepted (no statement is
// client-generated here). The function's rows go into a temporary SQLite
// table, declared with the types below, for the rest of the query: a WHERE
// on QUERY_TAG or the times, ORDER BY, GROUP BY run as SQL. Without an
// ORDER BY the rows come newest START_TIME first, as real accounts answer
// (not a documented guarantee).
//
// The columns, in Snowflake's order, up to TRANSACTION_BLOCKED_TIME:
// QUERY_ID, QUERY_TEXT, DATABASE_NAME, SCHEMA_NAME, QUERY_TYPE (close to
// Snowflake's names), SESSION_ID, USER_NAME, ROLE_NAME, WAREHOUSE_NAME,
// WAREHOUSE_SIZE, WAREHOUSE_TYPE, CLUSTER_NUMBER, QUERY_TAG,
// EXECUTION_STATUS (SUCCESS, FAILED_WITH_ERROR, RUNNING, QUEUED,
// RESUMING_WAREHOUSE), ERROR_CODE (text, "000630"; its type is a guess),
// ERROR_MESSAGE, START_TIME and END_TIME (TIMESTAMP_LTZ, milliseconds),
// TOTAL_ELAPSED_TIME, BYTES_SCANNED (always 0: not modelled),
// ROWS_PRODUCED, COMPILATION_TIME, EXECUTION_TIME,
// QUEUED_PROVISIONING_TIME, QUEUED_REPAIR_TIME (0), QUEUED_OVERLOAD_TIME,
// TRANSACTION_BLOCKED_TIME (0), durations in milliseconds. The later
// columns (data transfer, credits, query acceleration, hashes) are not
// served. A statement that used no warehouse (DDL, session statements,
// constant queries, result-cache hits) has no CLUSTER_NUMBER,
// WAREHOUSE_SIZE or WAREHOUSE_TYPE; a cache hit is recognised by that and
// an EXECUTION_TIME of 0.
//
// QUERY_TAG is the tag in force when the statement ran: its own statement
// parameter (gosnowflake.WithQueryTag, which is how pool/snowflake tags
// every statement with its run, worker and phase), else the session's (set
// at login or by ALTER SESSION SET QUERY_TAG). A reader that pages through
// more than RESULT_LIMIT statements moves END_TIME_RANGE_END back to the
// oldest END_TIME it read plus a millisecond (END_TIME is rounded to
// milliseconds) and drops the QUERY_IDs it has seen. The history is
// complete the moment a statement ends; a real account's Information
// Schema functions may show a statement later.
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
// # Records
//
// [Server.Counters] counts logins, renewals, closes, resumes, queued
// statements, cache hits and more; [Server.Statements] lists every ended
// statement with its session, QUERY_TAG, parameters, result format and the
// split of its time; [Server.Warehouse] is a snapshot of a warehouse's
// clusters, slots and queue.
//
// # What it does not prove
//
// Snowflake's real scheduling (the warehouse model above is a model, with
// its assumptions), real login rate limits, data of types it does not
// serve (VARIANT, TIME, GEOGRAPHY...), decimals beyond a float's
// precision, result sets large enough for a real account to split into
// chunks downloaded separately, and anything about SQL semantics beyond
// what SQLite shares with Snowflake.
package snowflaketest
