package profile

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/startline/startline/pool/dialect"
)

// fileVersion is the version of the saved-profile format written by Save.
const fileVersion = 1

// The file format is JSON:
//
//	{"version": 1, "tables": {"orders": {"name": "orders", "min_id": 1,
//	  "max_id": 9, "has_ids": true, "values": {"note": ["a", 2, 2.5,
//	  {"time": "2024-05-01T10:00:00Z"}, {"bytes": "AAE="}]}}}}
//
// Plain JSON would lose value types (a float 2 comes back as an integer, a
// time or []byte as a string), so floats are always written with a
// fraction or exponent, and times and bytes as one-key objects.
type fileProfile struct {
	Version int                   `json:"version"`
	Tables  map[string]*fileTable `json:"tables"`
}

type fileTable struct {
	Name   string           `json:"name"`
	MinID  int64            `json:"min_id"`
	MaxID  int64            `json:"max_id"`
	HasIDs bool             `json:"has_ids"`
	Values map[string][]any `json:"values,omitempty"`
}

type timeValue struct {
	Time string `json:"time"`
}

type bytesValue struct {
	Bytes string `json:"bytes"`
}

// Save writes p to path as JSON, atomically: it writes a temporary file in
// the same directory and renames it over path, so that a reader (or a crash)
// never sees half a profile. Values must be of the types documented on
// Table.Values (or bool, or another integer or float type).
func Save(path string, p *Profile) error {
	data, err := encode(p)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("profile: save: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644) // CreateTemp makes it 0600
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("profile: save: %w", err)
	}
	return nil
}

// encode renders p in the file format.
func encode(p *Profile) ([]byte, error) {
	if p == nil {
		return nil, errors.New("profile: save: nil Profile")
	}
	fp := fileProfile{Version: fileVersion, Tables: make(map[string]*fileTable, len(p.Tables))}
	for name, t := range p.Tables {
		if t == nil {
			return nil, fmt.Errorf("profile: save: tables[%q] is nil", name)
		}
		ft := &fileTable{Name: t.Name, MinID: t.MinID, MaxID: t.MaxID, HasIDs: t.HasIDs}
		if len(t.Values) > 0 {
			ft.Values = make(map[string][]any, len(t.Values))
		}
		for col, vs := range t.Values {
			out := make([]any, len(vs))
			for i, v := range vs {
				ev, err := encodeValue(v)
				if err != nil {
					return nil, fmt.Errorf("profile: save: tables[%q].values[%q][%d]: %w", name, col, i, err)
				}
				out[i] = ev
			}
			ft.Values[col] = out
		}
		fp.Tables[name] = ft
	}
	data, err := json.MarshalIndent(fp, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("profile: save: %w", err)
	}
	return append(data, '\n'), nil
}

func encodeValue(v any) (any, error) {
	switch x := v.(type) {
	case string, bool, int64, int, int32, int16, int8, uint32, uint16, uint8:
		return v, nil
	case uint64:
		if x > math.MaxInt64 {
			return encodeFloat(float64(x))
		}
		return v, nil
	case float64:
		return encodeFloat(x)
	case float32:
		return encodeFloat(float64(x))
	case time.Time:
		return timeValue{Time: x.Format(time.RFC3339Nano)}, nil
	case []byte:
		return bytesValue{Bytes: base64.StdEncoding.EncodeToString(x)}, nil
	}
	return nil, fmt.Errorf("value of type %T cannot be saved", v)
}

// encodeFloat writes f so that Load reads it back as a float64: with a
// fraction or exponent even when integral.
func encodeFloat(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%v cannot be saved in JSON", f)
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !bytes.ContainsAny([]byte(s), ".e") {
		s += ".0"
	}
	return json.Number(s), nil
}

// Load reads a profile written by Save. Integers come back as int64, other
// numbers as float64, and times and bytes as time.Time and []byte. Errors
// about the content wrap ErrBadFile and say where the fault is: the line and
// column of malformed JSON, or the field (tables["t"].min_id) of an invalid
// value.
func Load(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profile: load: %w", err)
	}
	p, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("profile: load %s: %w", path, err)
	}
	return p, nil
}

// decode parses and validates the file format. Its errors wrap ErrBadFile.
func decode(data []byte) (*Profile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var fp fileProfile
	if err := dec.Decode(&fp); err != nil {
		return nil, syntaxError(data, dec, err)
	}
	rest := data[dec.InputOffset():]
	if trimmed := bytes.TrimLeft(rest, " \t\r\n"); len(trimmed) > 0 {
		line, col := position(data, int64(len(data)-len(trimmed)))
		return nil, fmt.Errorf("%w: line %d, column %d: data after the profile", ErrBadFile, line, col)
	}
	if fp.Version != fileVersion {
		return nil, fmt.Errorf("%w: version: %d, want %d", ErrBadFile, fp.Version, fileVersion)
	}
	if fp.Tables == nil {
		return nil, fmt.Errorf("%w: tables: missing", ErrBadFile)
	}
	p := &Profile{Tables: make(map[string]*Table, len(fp.Tables))}
	for name, ft := range fp.Tables {
		field := fmt.Sprintf("tables[%q]", name)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s%s", ErrBadFile, field, fmt.Sprintf(format, args...))
		}
		if err := dialect.ValidIdent(name); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadFile, field, err)
		}
		if ft == nil {
			return nil, bad(": null")
		}
		if ft.Name != name {
			return nil, bad(".name: %q differs from its key", ft.Name)
		}
		if ft.MinID > ft.MaxID {
			return nil, bad(".min_id: %d is greater than max_id %d", ft.MinID, ft.MaxID)
		}
		t := &Table{Name: ft.Name, MinID: ft.MinID, MaxID: ft.MaxID, HasIDs: ft.HasIDs}
		if ft.Values != nil {
			t.Values = make(map[string][]any, len(ft.Values))
		}
		for col, vs := range ft.Values {
			if err := dialect.ValidIdent(col); err != nil {
				return nil, fmt.Errorf("%w: %s.values: %w", ErrBadFile, field, err)
			}
			out := make([]any, len(vs))
			for i, v := range vs {
				dv, err := decodeValue(v)
				if err != nil {
					return nil, bad(".values[%q][%d]: %v", col, i, err)
				}
				out[i] = dv
			}
			t.Values[col] = out
		}
		p.Tables[name] = t
	}
	return p, nil
}

func decodeValue(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return f, nil
	case string, bool:
		return v, nil
	case map[string]any:
		if len(x) == 1 {
			if s, ok := x["time"].(string); ok {
				t, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					return nil, fmt.Errorf("time: %w", err)
				}
				return t, nil
			}
			if s, ok := x["bytes"].(string); ok {
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, fmt.Errorf("bytes: %w", err)
				}
				return b, nil
			}
		}
		return nil, errors.New(`object is neither {"time": string} nor {"bytes": string}`)
	case nil:
		return nil, errors.New("null")
	}
	return nil, fmt.Errorf("unsupported JSON value %T", v)
}

// syntaxError turns a decoding error into one that says where in data it
// happened.
func syntaxError(data []byte, dec *json.Decoder, err error) error {
	var (
		off   = dec.InputOffset()
		field string
		se    *json.SyntaxError
		te    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &se):
		off = se.Offset - 1 // Offset counts the bad byte itself
	case errors.As(err, &te):
		off, field = te.Offset, te.Field
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		off = int64(len(data))
		err = errors.New("unexpected end of JSON input (file truncated?)")
	}
	line, col := position(data, off)
	if field != "" {
		return fmt.Errorf("%w: line %d, column %d: field %s: %w", ErrBadFile, line, col, field, err)
	}
	return fmt.Errorf("%w: line %d, column %d: %w", ErrBadFile, line, col, err)
}

// position returns the 1-based line and column (in bytes) of offset off in
// data.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// FileProfiler is a Profiler that loads a profile saved with Save instead
// of querying the database: the fast path for runs whose tables do not
// change between runs (the reference harness's "value pools"). It checks
// that the file holds every requested table and column, and returns only
// those. The file is read on every call; a FileProfiler may be used
// concurrently.
type FileProfiler struct {
	// Path is the file written by Save.
	Path string
}

// Profile implements Profiler. A table or column that the saved profile
// lacks is an error wrapping ErrMissing and naming the spec field. A spec
// with a Key needs a saved table with an id range.
func (f FileProfiler) Profile(ctx context.Context, specs []TableSpec) (*Profile, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	saved, err := Load(f.Path)
	if err != nil {
		return nil, err
	}
	out := &Profile{Tables: make(map[string]*Table, len(specs))}
	for i, s := range specs {
		st := saved.Table(s.Table)
		if st == nil {
			return nil, fmt.Errorf("%w: tables[%d].table: table %q (file %s)", ErrMissing, i, s.Table, f.Path)
		}
		if s.Key != "" && !st.HasIDs {
			return nil, fmt.Errorf("%w: tables[%d].key: id range of table %q (file %s)", ErrMissing, i, s.Table, f.Path)
		}
		t := &Table{Name: st.Name, MinID: st.MinID, MaxID: st.MaxID, HasIDs: st.HasIDs,
			Values: make(map[string][]any, len(s.Columns))}
		for j, c := range s.Columns {
			vs, ok := st.Values[c]
			if !ok {
				return nil, fmt.Errorf("%w: tables[%d].columns[%d]: column %q of table %q (file %s)", ErrMissing, i, j, c, s.Table, f.Path)
			}
			t.Values[c] = vs
		}
		out.Tables[s.Table] = t
	}
	return out, nil
}
