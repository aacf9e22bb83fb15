package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/startline/startline/timing"
)

// ErrBadResult is wrapped by every [*DecodeError], so that callers can test
// for a result that cannot be read with errors.Is.
var ErrBadResult = errors.New("loadtest: bad result")

// DecodeError reports a JSON result that cannot be read: cut short, not
// JSON, or holding a value of the wrong type or out of range. It names the
// place: the file (when read from one), the line and column (1-based), and
// the field as a path such as "phases.measure.ops" or "timeline[3].end_ns".
type DecodeError struct {
	File   string // empty when decoded from a reader
	Line   int    // 0 when the input is empty
	Column int
	Field  string // empty when the fault is not inside a field
	Err    error  // what is wrong
}

// Error formats the error as "loadtest: bad result: FILE:LINE:COL: field
// FIELD: REASON".
func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("loadtest: bad result: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", e.Line, e.Column)
	} else if e.File != "" {
		b.WriteByte(' ')
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %s: ", e.Field)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns [ErrBadResult] and the underlying error (a
// *json.SyntaxError, *json.UnmarshalTypeError, *timing.MarkError, ...).
func (e *DecodeError) Unwrap() []error { return []error{ErrBadResult, e.Err} }

// ReadResultFile reads the JSON result in the file at path, as
// [DecodeResult] does; a [*DecodeError] names the file.
func ReadResultFile(path string) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loadtest: reading result: %w", err)
	}
	res, err := decodeResult(data)
	if de, ok := errors.AsType[*DecodeError](err); ok {
		de.File = path
	}
	return res, err
}

// DecodeResult reads one JSON result, as [Result.MarshalJSON] writes it,
// from r. Unlike json.Unmarshal it says where a bad input is wrong: the
// error is a [*DecodeError] with the line, column and field at fault, for
// input cut short, not JSON, a value of the wrong type, a mark that cannot
// be (see timing.MarkError), counts that contradict each other, or more
// than one JSON value.
//
// Fields it does not know are ignored, so that a result written by a later
// version, which may hold more, still reads.
func DecodeResult(r io.Reader) (*Result, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("loadtest: reading result: %w", err)
	}
	return decodeResult(data)
}

// resultWire is the wire form of a Result for decoding: the marks are kept
// raw so that each is decoded on its own and a bad one is named by index.
type resultWire struct {
	*resultFields
	ClockOffset int64             `json:"clock_offset_ns"`
	ClockError  int64             `json:"clock_error_ns"`
	Marks       []json.RawMessage `json:"timeline"`
}

func decodeResult(data []byte) (*Result, error) {
	fail := func(offset int64, field string, err error) error {
		line, col := position(data, offset)
		return &DecodeError{Line: line, Column: col, Field: field, Err: err}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &DecodeError{Err: errors.New("empty input")}
	}
	res := new(Result)
	wire := resultWire{resultFields: (*resultFields)(res)}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&wire); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, fail(syn.Offset, pathAt(data, syn.Offset), err)
		case errors.As(err, &typ):
			// The path json gives starts with the embedded struct's name.
			e := *typ
			e.Field = strings.TrimPrefix(strings.TrimPrefix(e.Field, "resultFields"), ".")
			if e.Field == "" {
				e.Field = pathAt(data, typ.Offset)
			}
			return nil, fail(typ.Offset, e.Field, &e)
		case errors.Is(err, io.ErrUnexpectedEOF):
			end := int64(len(data))
			return nil, fail(end, pathAt(data, end), errors.New("unexpected end of input: the result is cut short"))
		default:
			// An error of a value's own decoder (a histogram, a mark),
			// which json does not place: find the first such value that
			// fails.
			off, field, ferr := findBad(data)
			if ferr == nil { // not found: say what json said
				return nil, fail(0, "", err)
			}
			if at := offsetOf(data, field); at > 0 { // the field within the value
				off = at
			}
			return nil, fail(off, field, ferr)
		}
	}
	if dec.More() {
		off := dec.InputOffset()
		return nil, fail(off+int64(len(data[off:])-len(bytes.TrimLeft(data[off:], " \t\r\n"))), "",
			errors.New("more than one JSON value: a result file holds one result"))
	}
	res.Timeline = timing.Timeline{
		Node: res.Node, Anchor: res.StartedAt,
		ClockOffset: time.Duration(wire.ClockOffset), ClockError: time.Duration(wire.ClockError),
	}
	if len(wire.Marks) > 0 {
		res.Timeline.Marks = make([]timing.Mark, len(wire.Marks))
	}
	for i, raw := range wire.Marks {
		if err := json.Unmarshal(raw, &res.Timeline.Marks[i]); err != nil {
			field := "timeline[" + strconv.Itoa(i) + "]"
			if me, ok := errors.AsType[*timing.MarkError](err); ok {
				me.Index = i
				field += "." + me.Field
				return nil, fail(offsetOf(data, field), field, me)
			}
			return nil, fail(offsetOf(data, field), field, err)
		}
	}
	if field, err := res.check(); err != nil {
		return nil, fail(offsetOf(data, field), field, err)
	}
	return res, nil
}

// check validates what the types alone do not: the fields that name a run
// and counts that cannot be negative or contradict each other. It returns the
// path of the field at fault.
func (r *Result) check() (string, error) {
	switch {
	case r.RunID == "":
		return "run_id", errors.New("missing or empty")
	case r.StartedAt.IsZero():
		return "started_at", errors.New("missing")
	case r.Config.Workers < 0:
		return "config.workers", fmt.Errorf("%d is negative", r.Config.Workers)
	}
	stats := []struct {
		path string
		s    Stats
	}{{"phases.warmup", r.Phases.Warmup}, {"phases.measure", r.Phases.Measure}}
	for name, s := range r.Operations {
		stats = append(stats, struct {
			path string
			s    Stats
		}{"operations." + name, s})
	}
	for _, st := range stats {
		if st.s.Ops < 0 {
			return st.path + ".ops", fmt.Errorf("%d is negative", st.s.Ops)
		}
		if st.s.Errors < 0 || st.s.Errors > st.s.Ops {
			return st.path + ".errors", fmt.Errorf("%d is not within 0..ops (%d)", st.s.Errors, st.s.Ops)
		}
		if h := st.s.Histogram; h != nil && h.Count() > st.s.Ops-st.s.Errors {
			return st.path + ".histogram", fmt.Errorf("holds %d latencies, more than the %d successful operations", h.Count(), st.s.Ops-st.s.Errors)
		}
	}
	return "", nil
}

// position converts a byte offset in data to a 1-based line and column
// (columns count bytes).
func position(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// jsonLevel is one open object or array in [walk].
type jsonLevel struct {
	array  bool
	index  int    // the next element's index, in an array
	key    string // the current key, in an object
	hasKey bool   // key was read and its value not yet: "" is a valid key
	base   string // the container's own path
}

// walk visits the JSON values in data in order, calling visit with each
// value's path ("a.b[2].c") and the offset where it starts, until visit
// returns false or the input ends or fails.
func walk(data []byte, visit func(path string, offset int64) bool) {
	var stack []jsonLevel
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		// The value's offset: after the separator and whitespace.
		off := dec.InputOffset()
		for off < int64(len(data)) && strings.IndexByte(" \t\r\n:,", data[off]) >= 0 {
			off++
		}
		tok, err := dec.Token()
		if err != nil {
			return
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			afterValue(stack)
			continue
		}
		var top *jsonLevel
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		p := ""
		switch {
		case top == nil:
		case top.array:
			p = top.base + "[" + strconv.Itoa(top.index) + "]"
		case !top.hasKey:
			// A member's key (json.Decoder.Token returns only strings
			// here): its value comes next.
			top.key, top.hasKey = tok.(string), true
			continue
		case top.base == "":
			p = top.key
		default:
			p = top.base + "." + top.key
		}
		if !visit(p, off) {
			return
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, jsonLevel{base: p})
		case json.Delim('['):
			stack = append(stack, jsonLevel{array: true, base: p})
		default:
			afterValue(stack)
		}
	}
}

// afterValue moves the innermost container past the value just read.
func afterValue(stack []jsonLevel) {
	if len(stack) == 0 {
		return
	}
	if l := &stack[len(stack)-1]; l.array {
		l.index++
	} else {
		l.key, l.hasKey = "", false
	}
}

// pathAt is the path of the last value that starts at or before offset.
func pathAt(data []byte, offset int64) string {
	last := ""
	walk(data, func(p string, off int64) bool {
		if off > offset {
			return false
		}
		last = p
		return true
	})
	return last
}

// offsetOf is the offset where the value at path starts, or 0 when there is
// none.
func offsetOf(data []byte, path string) int64 {
	var at int64
	walk(data, func(p string, off int64) bool {
		if p == path {
			at = off
			return false
		}
		return true
	})
	return at
}

// markPath matches the paths of marks decoded by timing's decoder below
// the top level: a merged result's per-process timelines and its longest
// span.
var markPath = regexp.MustCompile(`^(workers\[\d+\]\.timeline\[\d+\]|start\.longest)$`)

// findBad finds the first value whose own decoder fails (a histogram or a
// mark), for errors that json reports without a place. It returns its offset
// and path, and the decoder's error, which names the field within the value.
func findBad(data []byte) (at int64, field string, err error) {
	walk(data, func(p string, off int64) bool {
		var u json.Unmarshaler
		switch {
		case strings.HasSuffix(p, ".histogram"):
			u = new(Histogram)
		case markPath.MatchString(p):
			u = new(timing.Mark)
		default:
			return true
		}
		var raw json.RawMessage
		if err = json.NewDecoder(bytes.NewReader(data[off:])).Decode(&raw); err == nil {
			err = u.UnmarshalJSON(raw)
		}
		if err == nil {
			return true
		}
		at, field = off, p
		if me, ok := errors.AsType[*timing.MarkError](err); ok {
			field += "." + me.Field
		}
		return false
	})
	return at, field, err
}
