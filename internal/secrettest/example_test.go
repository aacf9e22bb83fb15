package secrettest_test

import (
	"fmt"
	"net/url"

	"github.com/startline/startline/internal/secrettest"
)

// A DSN that quotes its password back, escaped, is caught; one that
// redacts it is not.
func ExampleFind() {
	leaky := "cannot connect to postgres://u:" + url.QueryEscape(secrettest.Special) + "@db/test"
	redacted := "cannot connect to postgres://u:xxxxx@db/test"
	fmt.Printf("%q\n", secrettest.Find(leaky))
	fmt.Printf("%q\n", secrettest.Find(redacted))
	// Output:
	// "PLANTED-9f8e"
	// ""
}
