// Package testenv finds the services that integration tests talk to.
//
// A test that needs a service calls its function here. When the service is
// not reachable the test is skipped with a line saying why, unless the
// environment variable STARTLINE_REQUIRE_SERVICES is 1 (as in CI), in which
// case it fails.
package testenv

import (
	"net"
	"os"
	"testing"
	"time"
)

// Default addresses of the project's test services; each can be overridden
// with the environment variable named beside it.
const (
	PostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable" // STARTLINE_POSTGRES_DSN
	MySQLDSN    = "root@tcp(127.0.0.1:3306)/test?parseTime=true"            // STARTLINE_MYSQL_DSN
	NATSURL     = "nats://127.0.0.1:4222"                                   // STARTLINE_NATS_URL
)

// Required reports whether missing services fail tests instead of skipping them.
func Required() bool { return os.Getenv("STARTLINE_REQUIRE_SERVICES") == "1" }

// Postgres returns the DSN of the test PostgreSQL database, or skips t.
func Postgres(t testing.TB) string {
	t.Helper()
	return need(t, "PostgreSQL", "STARTLINE_POSTGRES_DSN", PostgresDSN, "127.0.0.1:5432")
}

// MySQL returns the DSN (go-sql-driver form) of the test MariaDB database, or skips t.
func MySQL(t testing.TB) string {
	t.Helper()
	return need(t, "MariaDB", "STARTLINE_MYSQL_DSN", MySQLDSN, "127.0.0.1:3306")
}

// NATS returns the URL of the test NATS server (with JetStream), or skips t.
func NATS(t testing.TB) string {
	t.Helper()
	return need(t, "NATS", "STARTLINE_NATS_URL", NATSURL, "127.0.0.1:4222")
}

func need(t testing.TB, name, env, dsn, addr string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if Required() {
			t.Fatalf("%s is required (STARTLINE_REQUIRE_SERVICES=1) but not reachable at %s: %v", name, addr, err)
		}
		t.Skipf("%s not reachable at %s (%v); set STARTLINE_REQUIRE_SERVICES=1 to fail instead", name, addr, err)
	}
	c.Close()
	return dsn
}
