package cli

import "strings"

// List is a repeatable flag of strings, such as -threshold and -slo: each
// use adds its value split at commas, every item trimmed and empty ones
// dropped, so that "-slo a -slo b" and "-slo a,b" mean the same.
type List []string

// String joins the items with commas, the form Set reads back.
func (l *List) String() string { return strings.Join(*l, ",") }

// Set adds the items of one use of the flag.
func (l *List) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}
