package snowflake_test

import (
	"io"
	"testing"

	"github.com/snowflakedb/gosnowflake"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The driver logs every failed login at error level; the tests provoke
	// many on purpose. TestSecretsNotLeaked captures it instead.
	gosnowflake.GetLogger().SetOutput(io.Discard)
	goleak.VerifyTestMain(m)
}
