package snowflake

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/startline/startline/pool/dialect"
)

// Settings are the session settings a benchmark on Snowflake must control.
// They are applied to every pooled session at login, as session parameters
// and the login's warehouse, so that applying them costs no round trip.
// Print them or store them with the result: they are part of what was
// measured.
type Settings struct {
	// RunID is carried in every statement's QUERY_TAG, so that Snowflake's
	// query history can be joined with startline's timings. Use the same
	// value as loadtest.Config.RunID. Empty means "run-" and a timestamp,
	// chosen by New.
	RunID string `json:"run_id"`
	// Node names this process in every QUERY_TAG, so that each process of
	// a run reads back only its own statements (see Pool.Statements). Use
	// the same value as loadtest.Config.Node. Empty means the host name
	// and the process id, as loadtest's default: processes on many hosts
	// need nothing, the nodes of a run that are goroutines of one process
	// need a name each.
	Node string `json:"node,omitempty"`
	// Warehouse is the warehouse every session uses; empty keeps the user's
	// default. It must be a plain identifier (letters, digits, underscores).
	Warehouse string `json:"warehouse,omitempty"`
	// ResultCache leaves Snowflake's result cache on. By default every
	// session sets USE_CACHED_RESULT=FALSE: a benchmark that repeats a query
	// would otherwise measure the cache, not the warehouse.
	ResultCache bool `json:"result_cache"`
	// StatementTimeout sets STATEMENT_TIMEOUT_IN_SECONDS, rounded up to a
	// whole second; zero keeps the account's default.
	StatementTimeout time.Duration `json:"statement_timeout_ns,omitempty"`
	// SkipResume makes Pool.Prepare leave the warehouse alone. By default
	// Prepare resumes it (ALTER WAREHOUSE ... RESUME IF SUSPENDED) so that
	// the first queries do not pay for its start.
	SkipResume bool `json:"skip_resume,omitempty"`
}

// validate reports the first field that cannot be used.
func (s Settings) validate() error {
	if s.Warehouse != "" {
		if err := dialect.ValidIdent(s.Warehouse); err != nil {
			return &SettingsError{Field: "Settings.Warehouse", Err: err}
		}
	}
	if s.StatementTimeout < 0 {
		return &SettingsError{Field: "Settings.StatementTimeout", Err: fmt.Errorf("must not be negative, got %v", s.StatementTimeout)}
	}
	if len(s.RunID) > 256 {
		return &SettingsError{Field: "Settings.RunID", Err: fmt.Errorf("is %d bytes long; at most 256 fit in a QUERY_TAG", len(s.RunID))}
	}
	if len(s.Node) > 256 {
		return &SettingsError{Field: "Settings.Node", Err: fmt.Errorf("is %d bytes long; at most 256 fit in a QUERY_TAG", len(s.Node))}
	}
	return nil
}

// timeoutSeconds is StatementTimeout in whole seconds, rounded up.
func (s Settings) timeoutSeconds() int64 {
	return int64((s.StatementTimeout + time.Second - 1) / time.Second)
}

// Params returns the session parameters the settings set at login, by
// name: USE_CACHED_RESULT (unless ResultCache), STATEMENT_TIMEOUT_IN_SECONDS
// (if set) and the session's QUERY_TAG (QueryTag with worker -1 and phase
// "pool.init": the tag of statements not run by a worker).
func (s Settings) Params() map[string]string {
	p := map[string]string{"QUERY_TAG": s.QueryTag(-1, "pool.init", "")}
	if !s.ResultCache {
		p["USE_CACHED_RESULT"] = "FALSE"
	}
	if s.StatementTimeout > 0 {
		p["STATEMENT_TIMEOUT_IN_SECONDS"] = strconv.FormatInt(s.timeoutSeconds(), 10)
	}
	return p
}

// queryTag is the JSON form of a QUERY_TAG. Run and Node come first, in
// this order, so that a tag of this run and node starts with tagPrefix.
type queryTag struct {
	Run       string `json:"startline"`
	Node      string `json:"node"`
	Worker    *int   `json:"worker,omitempty"`
	Phase     string `json:"phase,omitempty"`
	Operation string `json:"operation,omitempty"`
}

// QueryTag returns the QUERY_TAG of a statement run by worker (negative:
// none) in phase (empty: none) for operation (empty: none): a JSON object
// such as
// {"startline":"run-1","node":"n1","worker":3,"phase":"measure","operation":"point_select"},
// which Snowflake's query history can parse with PARSE_JSON(QUERY_TAG).
func (s Settings) QueryTag(worker int, phase, operation string) string {
	t := queryTag{Run: s.RunID, Node: s.Node, Phase: phase, Operation: operation}
	if worker >= 0 {
		t.Worker = &worker
	}
	b, _ := json.Marshal(t) // strings and an int: cannot fail
	return string(b)
}

// tagPrefix is how every QUERY_TAG of the settings' run and node begins.
func (s Settings) tagPrefix() string {
	b, _ := json.Marshal(queryTag{Run: s.RunID, Node: s.Node})
	return strings.TrimSuffix(string(b), "}") + ","
}
