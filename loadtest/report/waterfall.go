package report

import (
	"cmp"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/startline/startline/timing"
)

// Waterfall geometry, in SVG user units (pixels at 100% zoom).
const (
	chartWidth = 1100 // every chart's width
	labelWidth = 190  // the waterfall's label column
	rowHeight  = 16
	axisHeight = 22
)

// longRunning reports whether p's spans last as long as the run (the
// registry's windows: warmup, measure, teardown): the waterfall's axis
// covers the startup, and their bars run off its right end.
func longRunning(p timing.Phase) bool { return timing.Lookup(p).Kind == timing.KindWindow }

type wfRow struct {
	Y     float64
	Shade bool // every other row has a background
	Label string
	Head  bool   // a heading row, with no bars (the fleet's)
	Note  string // the fleet's: said at the row's end (the slowest node)
	Crit  bool   // the fleet's: the row holds the critical path
}

type wfBar struct {
	X, Y, W, H float64
	Class      string // phase class, plus "err", "longest", "clipped"
	Title      string // tooltip
}

type wfInstant struct {
	X, Y, Size float64
	Title      string
}

type tick struct {
	X, Y   float64 // X for a time axis, Y for a value axis
	Label  string
	Anchor string // the label's text-anchor; "" is middle
}

type waterfall struct {
	Class         string // added to the svg's class: "fleet" for the fleet's
	Width, Height float64
	NoteX         float64 // x of the rows' notes
	PlotX, PlotW  float64
	Top, Bottom   float64 // y of the first row and below the last
	Rows          []wfRow
	Bars          []wfBar
	Instants      []wfInstant
	Ticks         []tick
	Signal        *tick  // the start signal's line
	Beyond        []tick // labels of the bars past the axis
	Longest       string
	Gap           string // the start signal to first query summary
	Clipped       string // what runs off the axis
	Marks         int
}

// phaseClass is the CSS class that colours a phase's bars: "ph-" and the
// phase's display class in the registry (see phaseCSS).
func phaseClass(p timing.Phase) string { return "ph-" + string(timing.Lookup(p).Class) }

// fills colours each display class of timing's registry. A class without
// a colour here is drawn as ClassOther (a test keeps the table complete).
var fills = map[timing.Class]string{
	timing.ClassPool: "#4e79a7", timing.ClassConn: "#a0cbe8",
	timing.ClassProfile: "#59a14f", timing.ClassRetry: "#d37295",
	timing.ClassRegister: "#8cd17d", timing.ClassWait: "#bab0ac",
	timing.ClassSignal: "#a3261b", timing.ClassReady: "#f28e2b",
	timing.ClassResults: "#ffbe7d", timing.ClassGate: "#b07aa1",
	timing.ClassQuery: "#e15759", timing.ClassWarmup: "#f1ce63",
	timing.ClassMeasure: "#76b7b2", timing.ClassTeardown: "#9d7660",
	timing.ClassScale: "#499894", timing.ClassFault: "#ff9d9a",
	timing.ClassCoordinator: "#86bcb6", timing.ClassOther: "#79706e",
}

// phaseCSS is the style sheet's rules for the waterfall's bars, one per
// display class of the registry, so that the page and the registry cannot
// disagree.
var phaseCSS = func() template.CSS {
	var b strings.Builder
	classes := []timing.Class{timing.ClassOther}
	for _, info := range timing.Phases() {
		if !slices.Contains(classes, info.Class) {
			classes = append(classes, info.Class)
		}
	}
	for _, c := range classes {
		fill, ok := fills[c]
		if !ok {
			fill = fills[timing.ClassOther]
		}
		fmt.Fprintf(&b, ".wf-bar.ph-%s { fill: %s; }\n", c, fill)
	}
	return template.CSS(b.String()) // built from the constants above: safe
}()

// rank orders phases as timing does: known phases in the registry's order,
// then the rest.
func rank(p timing.Phase) int { return timing.Lookup(p).Order }

// workerRank puts the process's rows before the workers'.
func workerRank(w int) int {
	if w == timing.Process {
		return 0
	}
	return 1
}

// timeAxis is a waterfall's time axis.
type timeAxis struct {
	x       linear  // offsets (nanoseconds) to x
	top     float64 // the axis's right end, an offset in nanoseconds
	ticks   []tick
	clipped string // what runs past the right end, if anything
}

// startupAxis is the axis of a waterfall of marks, from x0 to x1: it
// covers the startup, from the first mark to the end of the last one that
// is not a window (warmup, measure, teardown), which run past its right
// end; if every mark is a window, all of them.
func startupAxis(marks []timing.Mark, x0, x1 float64) timeAxis {
	t0, t1 := marks[0].Start, time.Duration(0)
	startup := false
	var tEnd time.Duration
	for _, m := range marks {
		t0 = min(t0, m.Start)
		tEnd = max(tEnd, m.End)
		if !longRunning(m.Phase) {
			t1, startup = max(t1, m.End), true
		}
	}
	if !startup {
		t1 = tEnd
	}
	if t1 <= t0 {
		t1 = t0 + time.Millisecond
	}
	ticks, top := niceTicks(float64(t0), float64(t0+(t1-t0)*21/20), 8)
	ax := timeAxis{x: linear{ticks[0], top, x0, x1}, top: top}
	for _, v := range ticks {
		ax.ticks = append(ax.ticks, tick{X: ax.x.at(v), Label: timing.FormatDuration(time.Duration(v))})
	}
	if t1 < tEnd {
		ax.clipped = "Bars that run past the right edge continue: the run ends at " + timing.FormatDuration(tEnd) + "."
	}
	return ax
}

// bar places a span from start to end on the row at y, h high: cut at the
// axis's right end (class "clipped"), or, when it starts past that end, a
// stub there, labelled with its start in wf.Beyond.
func (ax timeAxis) bar(wf *waterfall, start, end time.Duration, y, h float64, class, title string) wfBar {
	top := time.Duration(ax.top)
	if end > top {
		class += " clipped"
	}
	x0 := ax.x.at(float64(start))
	b := wfBar{X: x0, Y: y + 2, W: max(1, ax.x.at(float64(min(end, top)))-x0), H: h, Class: class, Title: title}
	if start >= top {
		b.X, b.W = wf.PlotX+wf.PlotW-6, 6
		wf.Beyond = append(wf.Beyond, tick{X: b.X - 4, Y: y + 12, Label: "at " + timing.FormatDuration(start) + " →"})
	}
	return b
}

// spanTitle describes m, for a tooltip.
func spanTitle(m timing.Mark) string {
	s := string(m.Phase)
	if m.Worker != timing.Process {
		s += " worker " + strconv.Itoa(m.Worker)
	}
	if m.Node != "" {
		s += " on " + m.Node
	}
	if m.Detail != "" {
		s += " (" + m.Detail + ")"
	}
	if m.Start == m.End {
		s += " at " + timing.FormatDuration(m.Start)
	} else {
		s += fmt.Sprintf(": %s, %s to %s", timing.FormatDuration(m.Duration()), timing.FormatDuration(m.Start), timing.FormatDuration(m.End))
	}
	if m.Err != "" {
		s += "; error: " + m.Err
	}
	return s
}

// isMark reports whether m is the mark l points to (nil: none).
func isMark(l *timing.Mark, m timing.Mark) bool {
	return l != nil && l.Phase == m.Phase && l.Worker == m.Worker && l.Start == m.Start && l.End == m.End && l.Node == m.Node
}

// markRow draws marks on the row at y: each span a bar (several spans of
// one phase, lanes, in thin lanes that share the row), each instant a
// diamond; the longest span before the first query, if it is here, with
// a dashed outline.
func (wf *waterfall) markRow(ax timeAxis, y float64, marks []timing.Mark, lanes bool, longest *timing.Mark) {
	spans := 0
	for _, m := range marks {
		if m.Start != m.End {
			spans++
		}
	}
	// Many spans of one phase (pool.conn) share the row in thin lanes; more
	// spans than the row has pixels wrap around, so that no bar leaves
	// its row.
	const full = rowHeight - 4
	h := float64(full)
	if spans > 1 && lanes {
		h = max(1, h/float64(spans))
	}
	lane := 0
	for _, m := range marks {
		if m.Start == m.End {
			wf.Instants = append(wf.Instants, wfInstant{X: ax.x.at(float64(m.Start)), Y: y + rowHeight/2, Size: 5, Title: spanTitle(m)})
			continue
		}
		class := phaseClass(m.Phase)
		if m.Err != "" {
			class += " err"
		}
		if isMark(longest, m) {
			class += " longest"
		}
		bar := ax.bar(wf, m.Start, m.End, y, h, class, spanTitle(m))
		if lanes && spans > 1 {
			bar.Y += float64(lane%full) * h
			lane++
		}
		wf.Bars = append(wf.Bars, bar)
	}
}

// buildWaterfall lays out tl: one row per phase of each node's process, then
// one row per worker of each node, on an axis that covers the startup (from
// the first mark to the end of the last one that is not warmup, measure or
// teardown).
func buildWaterfall(tl timing.Timeline) waterfall {
	wf := waterfall{Width: chartWidth, PlotX: labelWidth, PlotW: chartWidth - labelWidth - 20, Top: axisHeight, Marks: len(tl.Marks)}
	if len(tl.Marks) == 0 {
		wf.Height = axisHeight + rowHeight
		return wf
	}
	sum := timing.Summarize(tl)

	ax := startupAxis(tl.Marks, wf.PlotX, wf.PlotX+wf.PlotW)
	x := ax.x
	wf.Clipped = ax.clipped

	// The rows: per node, the process's phases, then each worker.
	type key struct {
		node   string
		worker int
		phase  timing.Phase // empty for a worker's row
	}
	rows := map[key][]timing.Mark{}
	nodes := map[string]bool{}
	for _, m := range tl.Marks {
		k := key{node: cmp.Or(m.Node, tl.Node), worker: m.Worker}
		if m.Worker == timing.Process {
			k.phase = m.Phase
		}
		nodes[k.node] = true
		rows[k] = append(rows[k], m)
	}
	keys := slices.Collect(func(yield func(key) bool) {
		for k := range rows {
			if !yield(k) {
				return
			}
		}
	})
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.node, b.node),
			cmp.Compare(workerRank(a.worker), workerRank(b.worker)),
			cmp.Compare(rank(a.phase), rank(b.phase)), cmp.Compare(a.phase, b.phase),
			cmp.Compare(a.worker, b.worker))
	})
	multiNode := len(nodes) > 1

	y := float64(axisHeight)
	for _, k := range keys {
		label := string(k.phase)
		if k.worker != timing.Process {
			label = "worker " + strconv.Itoa(k.worker)
		}
		if multiNode {
			label = k.node + " · " + label
		}
		wf.Rows = append(wf.Rows, wfRow{Y: y, Label: label, Shade: len(wf.Rows)%2 == 0})
		wf.markRow(ax, y, rows[k], k.phase != "", sum.Longest)
		y += rowHeight
	}
	wf.Bottom = y
	wf.Height = y + 8
	wf.Ticks = ax.ticks
	if sum.Signal != nil {
		wf.Signal = &tick{X: x.at(float64(sum.Signal.Start)), Label: "start signal " + timing.FormatDuration(sum.Signal.Start)}
	}
	if l := sum.Longest; l != nil {
		wf.Longest = "Longest span before the first query: " + spanTitle(*l) + "."
	}
	if sum.Workers > 0 {
		wf.Gap = fmt.Sprintf("%d workers ran a first query; first queries started within %s of each other.",
			sum.Workers, timing.FormatDuration(sum.Skew))
		if sum.Signal != nil {
			wf.Gap = fmt.Sprintf("From the start signal to each worker's first query: %s over %d workers; first queries started within %s of each other.",
				sum.FirstQuery, sum.Workers, timing.FormatDuration(sum.Skew))
		}
	}
	return wf
}
