package timing

import (
	"cmp"
	"slices"
	"time"
)

// Merge puts the marks of many timelines on one axis and returns the merged
// timeline, leaving the inputs untouched.
//
// Each timeline's anchor is first corrected to the reference clock:
// Anchor - ClockOffset, since ClockOffset is how far that process's clock runs
// ahead. The merged anchor is the earliest corrected anchor, and each
// timeline's marks are shifted by how much later its corrected anchor is.
// Every mark is labelled with its timeline's Node unless it already names
// one, so that merging merged timelines keeps the original labels.
//
// The merged timeline has no Node and no ClockOffset (it is on the reference
// clock); its ClockError is the largest of the inputs', the bound on how far
// any mark may sit from its true place. Timelines without marks are skipped:
// their anchors place nothing. Marks are sorted by Start, then by phase order
// (see [Phases]), then by Node and Worker, so the result is deterministic.
func Merge(timelines ...Timeline) Timeline {
	var merged Timeline
	first := true
	n := 0
	for _, tl := range timelines {
		if len(tl.Marks) == 0 {
			continue
		}
		n += len(tl.Marks)
		merged.ClockError = max(merged.ClockError, tl.ClockError)
		if a := corrected(tl); first || a.Before(merged.Anchor) {
			merged.Anchor, first = a, false
		}
	}
	if n == 0 {
		return merged
	}
	merged.Marks = make([]Mark, 0, n)
	for _, tl := range timelines {
		shift := corrected(tl).Sub(merged.Anchor)
		for _, m := range tl.Marks {
			m.Start += shift
			m.End += shift
			if m.Node == "" {
				m.Node = tl.Node
			}
			merged.Marks = append(merged.Marks, m)
		}
	}
	slices.SortStableFunc(merged.Marks, compareMarks)
	return merged
}

// corrected is tl's anchor on the reference clock.
func corrected(tl Timeline) time.Time { return tl.Anchor.Add(-tl.ClockOffset) }

func compareMarks(a, b Mark) int {
	return cmp.Or(
		cmp.Compare(a.Start, b.Start),
		cmp.Compare(Lookup(a.Phase).Order, Lookup(b.Phase).Order),
		cmp.Compare(a.Phase, b.Phase), // unknown phases among themselves
		cmp.Compare(a.Node, b.Node),
		cmp.Compare(a.Worker, b.Worker),
		cmp.Compare(a.End, b.End),
	)
}

// Find returns the marks of phase in tl, in timeline order. It returns nil
// when there are none.
func (tl Timeline) Find(phase Phase) []Mark {
	var out []Mark
	for _, m := range tl.Marks {
		if m.Phase == phase {
			out = append(out, m)
		}
	}
	return out
}
