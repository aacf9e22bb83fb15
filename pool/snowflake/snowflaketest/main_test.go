package snowflaketest_test

import (
	"io"
	"testing"

	"github.com/snowflakedb/gosnowflake"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The driver logs every failed login and statement at error level;
	// the tests provoke many on purpose.
	gosnowflake.GetLogger().SetOutput(io.Discard)
	goleak.VerifyTestMain(m)
}
