package timing

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// waterfallWidth is the number of columns a waterfall bar spans.
const waterfallWidth = 50

// row aggregates the marks of one phase over all workers and nodes.
type row struct {
	phase      Phase
	start, end time.Duration
	marks      []Mark
	errs       int
	firstErr   string
}

// WriteWaterfall writes tl as a text waterfall to w: a line with the anchor
// (and node and clock offset, when set), then one row per phase, in
// the order of [Phases] and then unknown phases in order of first
// appearance. A row gives the phase's earliest start, latest end, the time
// between them, the number of marks when more than one, and a bar across
// the timeline from its first mark's start to its last end, where '#' marks
// time covered by a span and '|' an instant. Rows whose marks carry errors
// end with "!" and the first error. The [Summary] follows the rows.
//
// The output depends only on tl, so it can be compared in tests. The only
// errors returned are w's.
func WriteWaterfall(w io.Writer, tl Timeline) error {
	var b strings.Builder
	fmt.Fprintf(&b, "anchor %s", tl.Anchor.UTC().Format(time.RFC3339Nano))
	if tl.Node != "" {
		fmt.Fprintf(&b, "  node %s", tl.Node)
	}
	if tl.ClockOffset != 0 || tl.ClockError != 0 {
		fmt.Fprintf(&b, "  clock offset %s ± %s", FormatDuration(tl.ClockOffset), FormatDuration(tl.ClockError))
	}
	b.WriteByte('\n')
	if len(tl.Marks) == 0 {
		b.WriteString("no marks\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	rows := phaseRows(tl.Marks)
	t0, t1 := rows[0].start, rows[0].end
	nameWidth := len("phase")
	for _, r := range rows {
		t0, t1 = min(t0, r.start), max(t1, r.end)
		nameWidth = max(nameWidth, len(r.phase))
	}

	left, right := FormatDuration(t0), FormatDuration(t1)
	axis := left + " " + right
	if pad := waterfallWidth - len([]rune(left)) - len([]rune(right)); pad > 0 {
		axis = left + strings.Repeat(" ", pad) + right
	}
	fmt.Fprintf(&b, "%-*s %9s %9s %9s %5s  %s\n", nameWidth, "phase", "start", "end", "dur", "n", axis)
	for _, r := range rows {
		n := ""
		if len(r.marks) > 1 {
			n = fmt.Sprintf("x%d", len(r.marks))
		}
		fmt.Fprintf(&b, "%-*s %9s %9s %9s %5s  %s", nameWidth, r.phase,
			FormatDuration(r.start), FormatDuration(r.end), FormatDuration(r.end-r.start),
			n, bar(r.marks, t0, t1))
		switch r.errs {
		case 0:
		case 1:
			fmt.Fprintf(&b, "  ! %s", r.firstErr)
		default:
			fmt.Fprintf(&b, "  ! %d errors, first: %s", r.errs, r.firstErr)
		}
		b.WriteByte('\n')
	}

	s := Summarize(tl)
	b.WriteByte('\n')
	if s.Longest != nil {
		fmt.Fprintf(&b, "longest before first query: %s %s%s\n",
			s.Longest.Phase, FormatDuration(s.Longest.Duration()), onNode(s.Longest.Node))
	} else {
		b.WriteString("longest before first query: none\n")
	}
	switch {
	case s.Workers == 0:
		b.WriteString("start signal -> first query: no query.first marks\n")
	case s.Signal == nil:
		fmt.Fprintf(&b, "start signal -> first query: no coord.start mark (%d workers)\n", s.Workers)
	default:
		fmt.Fprintf(&b, "start signal -> first query: %s (%d workers)\n", s.FirstQuery, s.Workers)
	}
	if s.Workers > 0 {
		fmt.Fprintf(&b, "start skew: %s\n", FormatDuration(s.Skew))
	}
	if s.PoolConns.N > 0 {
		fmt.Fprintf(&b, "pool.conn open latency: %s (%d conns)\n", s.PoolConns, s.PoolConns.N)
	} else {
		b.WriteString("pool.conn open latency: no pool.conn marks\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func onNode(node string) string {
	if node == "" {
		return ""
	}
	return " (node " + node + ")"
}

// phaseRows groups marks by phase, one row per phase.
func phaseRows(marks []Mark) []*row {
	byPhase := map[Phase]*row{}
	var seen []Phase // order of first appearance
	for _, m := range marks {
		r := byPhase[m.Phase]
		if r == nil {
			r = &row{phase: m.Phase, start: m.Start, end: m.End}
			byPhase[m.Phase] = r
			seen = append(seen, m.Phase)
		}
		r.start, r.end = min(r.start, m.Start), max(r.end, m.End)
		r.marks = append(r.marks, m)
		if m.Err != "" {
			if r.errs == 0 {
				r.firstErr = m.Err
			}
			r.errs++
		}
	}
	// In the order they began, so that the rows read as the run went (the
	// order of phases differs between the fast and the reference order);
	// phases that began together in run order. Stable, so that unknown
	// phases that tie keep their order of appearance.
	slices.SortStableFunc(seen, func(a, b Phase) int {
		if c := cmp.Compare(byPhase[a].start, byPhase[b].start); c != 0 {
			return c
		}
		return Lookup(a).Order - Lookup(b).Order
	})
	rows := make([]*row, len(seen))
	for i, p := range seen {
		rows[i] = byPhase[p]
	}
	return rows
}

// bar draws marks on waterfallWidth columns spanning t0..t1: '#' where a span
// covers a column, '|' where an instant falls on a column no span covers,
// '.' elsewhere.
func bar(marks []Mark, t0, t1 time.Duration) string {
	cells := []byte(strings.Repeat(".", waterfallWidth))
	span := max(t1-t0, 1)
	// col maps an offset to a column; float64 because (off-t0)*width can
	// overflow int64 for spans of a few months.
	col := func(off time.Duration) int {
		c := int(float64(off-t0) / float64(span) * waterfallWidth)
		return min(max(c, 0), waterfallWidth-1)
	}
	for _, m := range marks {
		if m.Start == m.End {
			continue
		}
		// A span covers the columns from the one its start falls in to the
		// one just before its end, and at least one.
		from, to := col(m.Start), col(m.End-1)
		for c := from; c <= max(from, to); c++ {
			cells[c] = '#'
		}
	}
	for _, m := range marks {
		if m.Start == m.End {
			if c := col(m.Start); cells[c] == '.' {
				cells[c] = '|'
			}
		}
	}
	return string(cells)
}
