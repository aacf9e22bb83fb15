package profile

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is.
var (
	// ErrBadSpec is matched by every *SpecError: a TableSpec that cannot be
	// profiled (bad identifier, negative sample, repeated table or column).
	ErrBadSpec = errors.New("profile: bad table spec")
	// ErrMissing is wrapped when a saved profile lacks a table or column
	// that a TableSpec asks for.
	ErrMissing = errors.New("profile: not in the saved profile")
	// ErrBadFile is wrapped by every error about the content of a saved
	// profile file: malformed JSON or invalid values.
	ErrBadFile = errors.New("profile: bad profile file")
)

// SpecError reports a bad field of one of the TableSpecs passed to Profile,
// found before any query runs. It matches ErrBadSpec and unwraps to the
// cause (for a bad name, an error matching dialect.ErrBadIdent).
type SpecError struct {
	// Field locates the field, e.g. "tables[1].columns[0]".
	Field string
	Err   error
}

// Error returns "profile: <field>: <cause>".
func (e *SpecError) Error() string { return "profile: " + e.Field + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *SpecError) Unwrap() error { return e.Err }

// Is reports whether target is ErrBadSpec.
func (e *SpecError) Is(target error) bool { return target == ErrBadSpec }

// Phases of profiling one table, as named in QueryError.
const (
	PhaseRange  = "range"  // SELECT MIN(key), MAX(key)
	PhaseSample = "sample" // sampling one column's values
)

// QueryError reports a failed query of SQLProfiler: which table, which
// phase and, for PhaseSample, which column. It unwraps to the driver's (or
// the context's) error.
type QueryError struct {
	Table  string
	Phase  string // PhaseRange or PhaseSample
	Column string // the key column for PhaseRange, the sampled one for PhaseSample
	Err    error
}

// Error names the table, phase and column, then the cause.
func (e *QueryError) Error() string {
	return fmt.Sprintf("profile: table %q: %s of column %q: %v", e.Table, e.Phase, e.Column, e.Err)
}

// Unwrap returns the cause.
func (e *QueryError) Unwrap() error { return e.Err }
