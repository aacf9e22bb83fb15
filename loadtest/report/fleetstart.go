package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/startline/startline/timing"
)

// The start across the fleet: each node's first query relative to T,
// sorted, as a rising curve (node rank against time, which is the
// distribution of the first queries at any N), with each node's clock
// uncertainty (its offset's error bound, ±) as a band around it, so that
// a reader sees whether the spread is real or within the clocks'.

// Geometry of the start chart.
const (
	startHeight = 190
	startLeft   = 70
	startRight  = 190 // room for the latest node's name
	startTop    = 12
	startBottom = 34
	startDots   = 100 // at most this many nodes are drawn as dots, with tooltips
)

type fleetStart struct {
	Summary string // how far apart the nodes' first queries were
	Clocks  string // the clocks' uncertainty, and whether the spread is beyond it
	Chart   startChart
}

type startChart struct {
	Width, Height  float64
	X0, X1, Y0, Y1 float64
	XTicks, YTicks []tick
	T              *tick // x of T, when on the axis
	Band, Curve    string
	Dots           []startDot
	Labels         []tick // the earliest and the latest node
}

type startDot struct {
	X, Y  float64
	Title string
}

type nodeStart struct {
	node   string
	at     time.Duration // first query, relative to T (or to the earliest)
	offset time.Duration
	err    time.Duration
}

// start lays out the start across the fleet; nil when no node ran a first
// query.
func (f *fleetOf) start() *fleetStart {
	var t time.Duration // the origin: T, or the earliest first query
	var starts []nodeStart
	var none []string
	for _, node := range f.nodes {
		at, ok := f.firstQuery(node)
		if !ok {
			none = append(none, node)
			continue
		}
		c := f.clock[node]
		starts = append(starts, nodeStart{node: node, at: at, offset: c[0], err: c[1]})
	}
	if len(starts) == 0 {
		return nil
	}
	slices.SortStableFunc(starts, func(a, b nodeStart) int { return cmp.Compare(a.at, b.at) })
	label := func(d time.Duration) string { return relTo(d, 0) }
	if f.signal != nil {
		t = f.signal.Start
	} else {
		t = starts[0].at
		label = func(d time.Duration) string { return "+" + timing.FormatDuration(d) }
	}
	var maxErr time.Duration
	lo, hi := starts[0].offset, starts[0].offset
	for i := range starts {
		starts[i].at -= t
		maxErr = max(maxErr, starts[i].err)
		lo, hi = min(lo, starts[i].offset), max(hi, starts[i].offset)
	}
	first, last := starts[0], starts[len(starts)-1]
	spread := last.at - first.at
	fd := timing.FormatDuration

	v := &fleetStart{}
	v.Summary = fmt.Sprintf("First queries of %d nodes from %s (%s) to %s (%s): %s apart, median %s.",
		len(starts), label(first.at), first.node, label(last.at), last.node, fd(spread), label(starts[(len(starts)-1)/2].at))
	if f.signal == nil {
		v.Summary = fmt.Sprintf("No start instant T: first queries of %d nodes within %s of the earliest (%s), the latest on %s.",
			len(starts), fd(spread), first.node, last.node)
	}
	if f.summary.Workers > 0 {
		v.Summary += fmt.Sprintf(" Over all %d workers, the start skew is %s.", f.summary.Workers, fd(f.summary.Skew))
	}
	if len(none) > 0 {
		what := "nodes"
		if len(none) == 1 {
			what = "node"
		}
		v.Summary += fmt.Sprintf(" %d %s ran no first query: %s.", len(none), what, list(none, 5))
	}
	v.Clocks = fmt.Sprintf("Clock offsets from %s to %s, each measured within ±%s at most.", fd(lo), fd(hi), fd(maxErr))
	if len(starts) > 1 {
		// The two ends' places are each uncertain by their own bound.
		if u := first.err + last.err; spread > u {
			v.Clocks += fmt.Sprintf(" The spread is beyond the clocks' uncertainty: at least %s of its %s is real (%s and %s are placed within ±%s and ±%s).",
				fd(spread-u), fd(spread), first.node, last.node, fd(first.err), fd(last.err))
		} else {
			v.Clocks += fmt.Sprintf(" The spread of %s is within the clocks' uncertainty (±%s and ±%s on the earliest and the latest node): the nodes may have started together.",
				fd(spread), fd(first.err), fd(last.err))
		}
	}
	v.Chart = startChartOf(starts, maxErr, f.signal != nil, label)
	return v
}

// startChartOf draws the sorted first queries, at relative to the origin.
func startChartOf(starts []nodeStart, maxErr time.Duration, hasT bool, label func(time.Duration) string) startChart {
	c := startChart{Width: chartWidth, Height: startHeight, X0: startLeft, X1: chartWidth - startRight, Y0: startTop, Y1: startHeight - startBottom}
	n := len(starts)
	lo, hi := starts[0].at-maxErr, starts[n-1].at+maxErr
	// T on the axis unless the nodes started long after it, where it
	// would squeeze their spread into a corner.
	if hasT && lo > 0 && lo <= 2*(hi-lo) {
		lo = 0
	}
	if hasT && hi < 0 {
		hi = 0
	}
	if pad := time.Millisecond - (hi - lo); pad > 0 { // all together: an axis of a millisecond
		lo, hi = lo-pad/2, hi-pad/2+pad
	}
	ticks, top := niceTicks(float64(lo), float64(hi), 8)
	x := linear{ticks[0], top, c.X0, c.X1}
	for _, v := range ticks {
		c.XTicks = append(c.XTicks, tick{X: x.at(v), Label: label(time.Duration(v))})
	}
	if hasT && ticks[0] <= 0 && top >= 0 {
		c.T = &tick{X: x.at(0), Label: "T"}
	}
	// Rank i (0 the earliest) at the bottom, rising.
	y := func(i int) float64 { return c.Y1 - (float64(i)+0.5)/float64(n)*(c.Y1-c.Y0) }
	yTicks, _ := niceTicks(0, float64(n), 4)
	for _, v := range yTicks {
		if r := int(v); float64(r) == v && r >= 1 && r <= n {
			c.YTicks = append(c.YTicks, tick{Y: y(r - 1), Label: fmt.Sprint(r)})
		}
	}
	// Each node's true first query lies within ± its bound of where it is
	// drawn, so the true curve lies between the curve of the earliest
	// places (sorted) and that of the latest.
	early, late := make([]time.Duration, n), make([]time.Duration, n)
	for i, s := range starts {
		early[i], late[i] = s.at-s.err, s.at+s.err
	}
	slices.Sort(early)
	slices.Sort(late)
	var band, curve pathBuilder
	for i, s := range starts {
		band.point(x.at(float64(early[i])), y(i))
		curve.point(x.at(float64(s.at)), y(i))
	}
	for i := n - 1; i >= 0; i-- {
		band.point(x.at(float64(late[i])), y(i))
	}
	c.Band, c.Curve = band.String()+"Z", curve.String()
	if n <= startDots {
		for i, s := range starts {
			c.Dots = append(c.Dots, startDot{X: x.at(float64(s.at)), Y: y(i),
				Title: fmt.Sprintf("%s: first query %s ± %s", s.node, label(s.at), timing.FormatDuration(s.err))})
		}
	}
	c.Labels = append(c.Labels, tick{X: x.at(float64(starts[n-1].at+starts[n-1].err)) + 6, Y: y(n-1) + 4, Label: short(starts[n-1].node, 22) + " (latest)"})
	if n > 1 {
		c.Labels = append(c.Labels, tick{X: x.at(float64(starts[0].at+starts[0].err)) + 6, Y: y(0) - 3, Label: short(starts[0].node, 22) + " (earliest)"})
	}
	return c
}

// list names up to n of names, and how many more.
func list(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}
