package secrettest_test

import (
	"testing"

	"github.com/snowflakedb/gosnowflake"
	"go.uber.org/goleak"

	"github.com/startline/startline/internal/secrettest"
)

// driverLog is the Snowflake driver's own log, which it writes beside
// startline's: secrets must not reach it either.
var driverLog secrettest.Buffer

func TestMain(m *testing.M) {
	if err := gosnowflake.GetLogger().SetLogLevel("debug"); err != nil {
		panic(err)
	}
	gosnowflake.GetLogger().SetOutput(&driverLog)
	goleak.VerifyTestMain(m)
}
