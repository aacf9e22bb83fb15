package profile

import (
	"context"
	"math"
	"math/rand/v2"
)

// Profiler reads what a workload needs to know about its tables before the
// run: id ranges and sampled column values. Profile may be called
// concurrently with itself; it must return once ctx is done. The returned
// Profile belongs to the caller.
type Profiler interface {
	Profile(ctx context.Context, tables []TableSpec) (*Profile, error)
}

// TableSpec names a table to profile and what to read from it.
type TableSpec struct {
	// Table is the table's name, optionally qualified by a schema
	// ("schema.table"); each part must be an identifier (see
	// dialect.ValidIdent). It is also the name the table has in the Profile.
	Table string `json:"table"`
	// Key is the integer key column whose MIN and MAX give the id range;
	// empty means no id range.
	Key string `json:"key,omitempty"`
	// Columns are the columns to sample values from.
	Columns []string `json:"columns,omitempty"`
	// Sample is the number of values to sample per column (K); zero means
	// DefaultSample.
	Sample int `json:"sample,omitempty"`
}

// DefaultSample is the number of values sampled per column when
// TableSpec.Sample is zero.
const DefaultSample = 1000

// Profile is what was learnt about the workload's tables. Once built it is
// only read, so any number of workers may draw from it at once.
type Profile struct {
	// Tables holds each table's profile by TableSpec.Table.
	Tables map[string]*Table `json:"tables"`
}

// Table returns the profile of the named table, or nil if p is nil or has
// no such table.
func (p *Profile) Table(name string) *Table {
	if p == nil {
		return nil
	}
	return p.Tables[name]
}

// Table is the profile of one table.
type Table struct {
	// Name is the table's name as given in TableSpec.Table.
	Name string `json:"name"`
	// MinID and MaxID bound the key column; both are zero when the table has
	// no key column in its spec or no rows with a key.
	MinID int64 `json:"min_id"`
	MaxID int64 `json:"max_id"`
	// HasIDs reports whether the id range was read and is not empty.
	HasIDs bool `json:"has_ids"`
	// Values holds the sampled values of each column, by column name; NULLs
	// are never sampled. Integers are int64, other numbers float64, text
	// string, bytes []byte, times time.Time (other driver types, such as
	// bool, are kept as the driver returns them).
	Values map[string][]any `json:"values,omitempty"`
}

// RandomID returns an id drawn uniformly from [MinID, MaxID], or 0 if the
// table has no id range (or t is nil). It does not allocate. The id need not
// exist: keys may have gaps.
//
// r is the caller's: a *rand.Rand is not safe for concurrent use, so each
// worker passes its own.
func (t *Table) RandomID(r *rand.Rand) int64 {
	if t == nil || !t.HasIDs || t.MaxID < t.MinID {
		return 0
	}
	// The span is computed in uint64 so that ranges wider than MaxInt64
	// (MinID negative) neither overflow nor bias the draw.
	span := uint64(t.MaxID) - uint64(t.MinID)
	if span == math.MaxUint64 {
		return int64(r.Uint64())
	}
	return t.MinID + int64(r.Uint64N(span+1))
}

// Value returns one of the values sampled from column col, drawn uniformly,
// or nil if there are none (or t is nil). It does not allocate: the
// returned interface is the one stored in Values. Callers must not modify a
// returned []byte.
//
// r is the caller's, as for RandomID.
func (t *Table) Value(col string, r *rand.Rand) any {
	if t == nil {
		return nil
	}
	vs := t.Values[col]
	if len(vs) == 0 {
		return nil
	}
	return vs[r.IntN(len(vs))]
}
