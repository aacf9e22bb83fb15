package timing

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrInvalidMark is wrapped by every [MarkError], so that callers can test for
// any invalid mark with errors.Is.
var ErrInvalidMark = errors.New("timing: invalid mark")

// MarkError reports a decoded mark that cannot be valid.
type MarkError struct {
	// Index is the mark's position in the timeline's "marks", or -1 when a
	// lone mark was decoded.
	Index int
	// Field is the JSON field at fault, such as "phase" or "end_ns".
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error names the mark by index and field, as "timing: marks[3].end_ns: ...".
func (e *MarkError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("timing: mark: %s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("timing: marks[%d].%s: %s", e.Index, e.Field, e.Reason)
}

// Unwrap returns [ErrInvalidMark].
func (e *MarkError) Unwrap() error { return ErrInvalidMark }

// markJSON is the wire form of a Mark: offsets in integer nanoseconds, so
// that no precision is lost and any language can read them.
type markJSON struct {
	Phase  Phase  `json:"phase"`
	Worker int    `json:"worker"`
	Start  int64  `json:"start_ns"`
	End    int64  `json:"end_ns"`
	Err    string `json:"error,omitempty"`
	Detail string `json:"detail,omitempty"`
	Node   string `json:"node,omitempty"`
}

func (j markJSON) mark(index int) (Mark, error) {
	switch {
	case j.Phase == "":
		return Mark{}, &MarkError{Index: index, Field: "phase", Reason: "empty"}
	case j.End < j.Start:
		return Mark{}, &MarkError{Index: index, Field: "end_ns",
			Reason: fmt.Sprintf("%d is before start_ns %d", j.End, j.Start)}
	}
	return Mark{
		Phase: j.Phase, Worker: j.Worker,
		Start: time.Duration(j.Start), End: time.Duration(j.End),
		Err: j.Err, Detail: j.Detail, Node: j.Node,
	}, nil
}

func toMarkJSON(m Mark) markJSON {
	return markJSON{
		Phase: m.Phase, Worker: m.Worker,
		Start: int64(m.Start), End: int64(m.End),
		Err: m.Err, Detail: m.Detail, Node: m.Node,
	}
}

// MarshalJSON encodes m as
// {"phase","worker","start_ns","end_ns","error","detail","node"}, leaving out
// error, detail and node when they are empty.
func (m Mark) MarshalJSON() ([]byte, error) { return json.Marshal(toMarkJSON(m)) }

// UnmarshalJSON decodes the form written by [Mark.MarshalJSON]. It returns a
// [*MarkError] for an empty phase or an end before the start.
func (m *Mark) UnmarshalJSON(data []byte) error {
	var j markJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("timing: mark: %w", err)
	}
	v, err := j.mark(-1)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// timelineJSON is the wire form of a Timeline. Marks are decoded as markJSON
// so that a bad mark's error can name its index.
type timelineJSON struct {
	Node        string     `json:"node"`
	Anchor      string     `json:"anchor"`
	ClockOffset int64      `json:"clock_offset_ns"`
	ClockError  int64      `json:"clock_error_ns"`
	Marks       []markJSON `json:"marks"`
}

// MarshalJSON encodes tl as
// {"node","anchor","clock_offset_ns","clock_error_ns","marks":[...]}. The
// anchor is written in UTC in RFC 3339 format with nanoseconds, so that
// timelines from hosts in different zones read alike.
func (tl Timeline) MarshalJSON() ([]byte, error) {
	j := timelineJSON{
		Node:        tl.Node,
		Anchor:      tl.Anchor.UTC().Format(time.RFC3339Nano),
		ClockOffset: int64(tl.ClockOffset),
		ClockError:  int64(tl.ClockError),
		Marks:       make([]markJSON, len(tl.Marks)), // [] rather than null
	}
	for i, m := range tl.Marks {
		j.Marks[i] = toMarkJSON(m)
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes the form written by [Timeline.MarshalJSON]. The anchor
// decodes in UTC; an empty "marks" decodes as nil. A mark with an empty phase
// or an end before its start is rejected with a [*MarkError] naming its index.
func (tl *Timeline) UnmarshalJSON(data []byte) error {
	var j timelineJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("timing: timeline: %w", err)
	}
	anchor, err := time.Parse(time.RFC3339Nano, j.Anchor)
	if err != nil {
		return fmt.Errorf("timing: timeline: anchor: %w", err)
	}
	v := Timeline{
		Node:        j.Node,
		Anchor:      anchor.UTC(),
		ClockOffset: time.Duration(j.ClockOffset),
		ClockError:  time.Duration(j.ClockError),
	}
	if len(j.Marks) > 0 {
		v.Marks = make([]Mark, len(j.Marks))
		for i, mj := range j.Marks {
			if v.Marks[i], err = mj.mark(i); err != nil {
				return err
			}
		}
	}
	*tl = v
	return nil
}
