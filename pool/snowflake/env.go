package snowflake

import (
	"errors"
	"os"

	"github.com/snowflakedb/gosnowflake"
)

// ConfigFromEnv returns the driver configuration that the environment
// gives, and whether it gives one: SNOWFLAKE_DSN (a gosnowflake DSN) if set,
// else SNOWFLAKE_ACCOUNT and SNOWFLAKE_USER with SNOWFLAKE_PASSWORD and the
// optional SNOWFLAKE_WAREHOUSE, SNOWFLAKE_DATABASE, SNOWFLAKE_SCHEMA,
// SNOWFLAKE_ROLE and SNOWFLAKE_HOST. The error, for a DSN that does not
// parse, holds no part of the DSN.
func ConfigFromEnv() (*gosnowflake.Config, bool, error) {
	if dsn := os.Getenv("SNOWFLAKE_DSN"); dsn != "" {
		cfg, err := gosnowflake.ParseDSN(dsn)
		if err != nil {
			return nil, true, &SettingsError{Field: "SNOWFLAKE_DSN", Err: errors.New(redact(err.Error(), dsnSecrets(dsn)))}
		}
		return cfg, true, nil
	}
	account, user := os.Getenv("SNOWFLAKE_ACCOUNT"), os.Getenv("SNOWFLAKE_USER")
	if account == "" || user == "" {
		return nil, false, nil
	}
	return &gosnowflake.Config{
		Account:   account,
		User:      user,
		Password:  os.Getenv("SNOWFLAKE_PASSWORD"),
		Warehouse: os.Getenv("SNOWFLAKE_WAREHOUSE"),
		Database:  os.Getenv("SNOWFLAKE_DATABASE"),
		Schema:    os.Getenv("SNOWFLAKE_SCHEMA"),
		Role:      os.Getenv("SNOWFLAKE_ROLE"),
		Host:      os.Getenv("SNOWFLAKE_HOST"),
	}, true, nil
}
