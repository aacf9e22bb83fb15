package profile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/startline/startline/pool/dialect"
)

// DefaultParallel is the number of queries SQLProfiler runs at once when
// SQLProfiler.Parallel is zero.
const DefaultParallel = 8

// SQLProfiler profiles tables by querying them through database/sql: one
// query for the key range of each table and one per sampled column, all run
// concurrently, at most Parallel at a time. On the reference harness these
// were sequential round trips of 100-200ms each; run together they cost
// about one.
//
// Sampling uses ORDER BY RANDOM() LIMIT K, which reads the whole column: on
// large tables profile once and Save, then use FileProfiler.
//
// An SQLProfiler may be used concurrently; it does not own DB and never
// closes it.
type SQLProfiler struct {
	// DB is the database to query; required.
	DB *sql.DB
	// Dialect quotes names and picks the random function; required (see
	// dialect.ForDriver).
	Dialect dialect.Dialect
	// Parallel bounds how many queries run at once; zero means
	// DefaultParallel. Keep it within the pool's open-connection limit.
	Parallel int
}

// plan is one validated TableSpec: names already quoted.
type plan struct {
	spec    TableSpec
	table   string   // quoted table
	key     string   // quoted key column, "" if none
	columns []string // quoted columns, as spec.Columns
	sample  int
}

// Profile implements Profiler. Every spec is validated before any query is
// sent, so a bad name fails fast with a *SpecError. The first query error
// cancels the rest and is returned as a *QueryError.
func (p *SQLProfiler) Profile(ctx context.Context, specs []TableSpec) (*Profile, error) {
	if p.DB == nil {
		return nil, &SpecError{Field: "SQLProfiler.DB", Err: errors.New("nil")}
	}
	if p.Dialect.Name() == "" {
		return nil, &SpecError{Field: "SQLProfiler.Dialect", Err: errors.New("not set; use dialect.ForDriver or a predefined dialect")}
	}
	if p.Parallel < 0 {
		return nil, &SpecError{Field: "SQLProfiler.Parallel", Err: fmt.Errorf("%d is negative", p.Parallel)}
	}
	plans, err := p.plan(specs)
	if err != nil {
		return nil, err
	}

	// Each task writes only its own slot, so no locking is needed; the
	// maps are built after Wait.
	type result struct {
		min, max sql.NullInt64
		values   [][]any // by column index
	}
	results := make([]result, len(plans))
	for i := range plans {
		results[i].values = make([][]any, len(plans[i].columns))
	}

	parallel := p.Parallel
	if parallel == 0 {
		parallel = DefaultParallel
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i := range plans {
		pl, res := &plans[i], &results[i]
		if pl.key != "" {
			g.Go(func() error {
				q := "SELECT MIN(" + pl.key + "), MAX(" + pl.key + ") FROM " + pl.table
				if err := p.DB.QueryRowContext(gctx, q).Scan(&res.min, &res.max); err != nil {
					return &QueryError{Table: pl.spec.Table, Phase: PhaseRange, Column: pl.spec.Key, Err: err}
				}
				return nil
			})
		}
		for j := range pl.columns {
			g.Go(func() error {
				vs, err := p.sample(gctx, pl, j)
				if err != nil {
					return &QueryError{Table: pl.spec.Table, Phase: PhaseSample, Column: pl.spec.Columns[j], Err: err}
				}
				res.values[j] = vs
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		// A query failing because the caller's ctx ended reports that cause
		// too, whatever the driver made of it.
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return nil, fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return nil, err
	}

	out := &Profile{Tables: make(map[string]*Table, len(plans))}
	for i, pl := range plans {
		t := &Table{Name: pl.spec.Table, Values: make(map[string][]any, len(pl.columns))}
		if r := results[i]; r.min.Valid && r.max.Valid {
			t.MinID, t.MaxID, t.HasIDs = r.min.Int64, r.max.Int64, true
		}
		for j, col := range pl.spec.Columns {
			t.Values[col] = results[i].values[j]
		}
		out.Tables[pl.spec.Table] = t
	}
	return out, nil
}

// plan validates every spec and quotes its names.
func (p *SQLProfiler) plan(specs []TableSpec) ([]plan, error) {
	plans := make([]plan, len(specs))
	seen := make(map[string]int, len(specs))
	for i, s := range specs {
		field := fmt.Sprintf("tables[%d]", i)
		pl := plan{spec: s, sample: s.Sample}
		var err error
		if pl.table, err = p.Dialect.Ident(s.Table); err != nil {
			return nil, &SpecError{Field: field + ".table", Err: err}
		}
		if j, dup := seen[s.Table]; dup {
			return nil, &SpecError{Field: field + ".table", Err: fmt.Errorf("%q repeats tables[%d]", s.Table, j)}
		}
		seen[s.Table] = i
		if s.Key != "" {
			if pl.key, err = p.Dialect.Ident(s.Key); err != nil {
				return nil, &SpecError{Field: field + ".key", Err: err}
			}
		}
		if s.Sample < 0 {
			return nil, &SpecError{Field: field + ".sample", Err: fmt.Errorf("%d is negative", s.Sample)}
		}
		if pl.sample == 0 {
			pl.sample = DefaultSample
		}
		pl.columns = make([]string, len(s.Columns))
		cols := make(map[string]int, len(s.Columns))
		for j, c := range s.Columns {
			cf := fmt.Sprintf("%s.columns[%d]", field, j)
			if pl.columns[j], err = p.Dialect.Ident(c); err != nil {
				return nil, &SpecError{Field: cf, Err: err}
			}
			if k, dup := cols[c]; dup {
				return nil, &SpecError{Field: cf, Err: fmt.Errorf("%q repeats %s.columns[%d]", c, field, k)}
			}
			cols[c] = j
		}
		plans[i] = pl
	}
	return plans, nil
}

// sample reads up to pl.sample random non-NULL values of column j.
func (p *SQLProfiler) sample(ctx context.Context, pl *plan, j int) ([]any, error) {
	col := pl.columns[j]
	q := "SELECT " + col + " FROM " + pl.table + " WHERE " + col + " IS NOT NULL ORDER BY " +
		p.Dialect.Random() + " LIMIT " + strconv.Itoa(pl.sample)
	rows, err := p.DB.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	if len(types) != 1 {
		return nil, fmt.Errorf("query returned %d columns, want 1", len(types))
	}
	kind := kindOf(types[0].DatabaseTypeName())
	vs := make([]any, 0, min(pl.sample, 4096))
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		if v, err = normalize(v, kind); err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

// kind is what a column's database type says about how to read a value the
// driver returns as text or bytes.
type kind int

const (
	kindText   kind = iota // []byte becomes string
	kindBinary             // []byte stays []byte
	kindNumber             // text is parsed: int64 if integral, else float64
)

// numberTypes are the DatabaseTypeNames, upper-cased and without an
// UNSIGNED prefix, of numeric columns across the supported drivers.
var numberTypes = map[string]bool{
	"INT": true, "INTEGER": true, "BIGINT": true, "SMALLINT": true, "TINYINT": true,
	"MEDIUMINT": true, "INT2": true, "INT4": true, "INT8": true,
	"DECIMAL": true, "NUMERIC": true, "NUMBER": true, "FIXED": true, "REAL": true,
	"FLOAT": true, "FLOAT4": true, "FLOAT8": true, "DOUBLE": true, "DOUBLE PRECISION": true,
}

// kindOf classifies a ColumnType.DatabaseTypeName. Drivers differ in what
// they return as []byte or string: the MySQL driver returns every value of
// its text protocol as []byte, pgx returns NUMERIC as a string, gosnowflake
// NUMBER as a string. The column's declared type tells text from bytes from
// numbers.
func kindOf(dbType string) kind {
	t := strings.TrimPrefix(strings.ToUpper(dbType), "UNSIGNED ")
	if i := strings.IndexByte(t, '('); i >= 0 {
		t = t[:i] // DECIMAL(10,2) and the like
	}
	switch {
	case numberTypes[t]:
		return kindNumber
	case strings.Contains(t, "BLOB"), strings.Contains(t, "BINARY"), t == "BYTEA", t == "RAW", t == "IMAGE":
		return kindBinary
	}
	return kindText
}

// normalize converts a scanned value to the types documented on
// Table.Values.
func normalize(v any, k kind) (any, error) {
	switch x := v.(type) {
	case int64, float64, string, bool:
		if s, ok := x.(string); ok && k == kindNumber {
			return parseNumber(s)
		}
		return v, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint64:
		if x <= 1<<63-1 {
			return int64(x), nil
		}
		return float64(x), nil
	case uint32:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case []byte:
		switch k {
		case kindBinary:
			return x, nil // database/sql has already copied it
		case kindNumber:
			return parseNumber(string(x))
		}
		return string(x), nil
	}
	return v, nil // time.Time and driver-specific types as they are
}

func parseNumber(s string) (any, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("numeric column value %q: %w", s, err)
	}
	return f, nil
}
