package snowflaketest

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// maxCacheEntries bounds the result cache; past it the cache starts again
// empty. Snowflake keeps results for 24 hours; a test server keeps memory
// bounded instead.
const maxCacheEntries = 10000

// reNondeterministic finds what makes a query's result depend on when it
// runs, which Snowflake's result cache does not reuse: functions evaluated
// at execution time, the query history, and SYSTEM$WAIT (which a test
// repeats to hold slots).
var reNondeterministic = regexp.MustCompile(`(?i)\b(CURRENT_TIMESTAMP|CURRENT_TIME|CURRENT_DATE|SYSDATE|GETDATE|LOCALTIMESTAMP|LOCALTIME|SYSTIMESTAMP|RANDOM|RANDSTR|UNIFORM|NORMAL|UUID_STRING|SEQ1|SEQ2|SEQ4|SEQ8|QUERY_HISTORY\w*|SYSTEM\$WAIT)\b`)

// cacheKey returns the key of a query's result in the result cache, and
// false when the result must not be reused: only SELECTs without
// functions evaluated at execution time are. The key is the query text as
// received (Snowflake requires it to match exactly), its bind values, and
// the session's role, database and schema, which decide what the text
// means.
func cacheKey(k kind, st *Statement, bs map[string]binding) (string, bool) {
	if k.name != "select" || reNondeterministic.MatchString(maskLiterals(st.SQL)) {
		return "", false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\x00%s\x00%s\x00%s", st.Role, st.Database, st.Schema, st.SQL)
	for _, name := range slices.Sorted(maps.Keys(bs)) {
		fmt.Fprintf(&b, "\x00%s=%s:%v", name, bs[name].Type, bs[name].Value)
	}
	return b.String(), true
}

// cachedLocked returns the cached result for key; s.mu is held.
func (s *Server) cachedLocked(key string) *result { return s.cache[key] }

// storeLocked keeps res for key; s.mu is held. A result is immutable once
// stored: it is encoded anew for every hit.
func (s *Server) storeLocked(key string, res *result) {
	if len(s.cache) >= maxCacheEntries {
		clear(s.cache)
	}
	s.cache[key] = res
}
