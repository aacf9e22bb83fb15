package pool_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/startline/startline/pool"
)

// Classify sorts an operation's error into the kinds a result counts.
func ExampleClassify() {
	for _, err := range []error{
		fmt.Errorf("query: %w", context.DeadlineExceeded),
		fmt.Errorf("query: %w", driver.ErrBadConn),
		&pgconn.PgError{Code: "57P01"}, // the server terminated the backend
		&pgconn.PgError{Code: "23505"}, // a unique violation
		errors.New("something else"),
	} {
		fmt.Println(pool.Classify(err))
	}
	// Output:
	// timeout
	// connection
	// connection
	// sql
	// other
}
