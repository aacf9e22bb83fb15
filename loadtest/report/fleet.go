package report

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// The fleet view of a result merged from many processes (one with
// Workers): see the package documentation for what it draws. Its parts:
// readFleet reads the result once, by node and phase; waterfall, start
// (fleetstart.go) and details lay out the three parts.

// fleetFull is how many of the slowest nodes get a full waterfall in their
// <details>; the others get a table of their phases, which keeps the page
// of a 1,000-node result small.
const fleetFull = 10

// noteWidth is the fleet waterfall's column of notes, right of the plot,
// which holds noteChars characters.
const (
	noteWidth = 250
	noteChars = 34
)

// fleetView is the fleet view of a merged result.
type fleetView struct {
	Nodes      int
	Waterfall  waterfall
	Critical   string      // the critical path to the first query, as a sentence
	Start      *fleetStart // nil when no node ran a first query
	Details    []nodeDetail
	DetailNote string
}

// nodeDetail is one node's <details>.
type nodeDetail struct {
	Line string     // the summary line
	Full *waterfall // the slowest few: the node's own waterfall
	Rows []nodeRow  // the others: a table of its phases
}

type nodeRow struct {
	Phase, Start, Dur, N, Err string
}

// nodeSpan is one node's span of one phase: from the earliest start of its
// marks of the phase to the latest end.
type nodeSpan struct {
	node       string
	start, end time.Duration
	n, errs    int
	firstErr   string
}

func (s nodeSpan) dur() time.Duration { return s.end - s.start }

// fleetOf holds what the fleet view reads of a merged result: each node's
// marks on the merged axis and its spans by phase.
type fleetOf struct {
	nodes   []string                    // the worker nodes, in the result's order
	clock   map[string][2]time.Duration // offset and error bound per node
	marks   map[string][]timing.Mark    // per node, on the merged axis
	spans   map[string]map[timing.Phase]*nodeSpan
	orch    map[string][]timing.Mark // the marks of every other node: the orchestrator's
	signal  *timing.Mark             // T
	summary timing.Summary
}

// readFleet reads res by node: the nodes of res.Workers, and the marks of
// every other node (the orchestrator's) apart.
func readFleet(res *loadtest.Result) *fleetOf {
	f := &fleetOf{
		clock: map[string][2]time.Duration{}, marks: map[string][]timing.Mark{},
		spans: map[string]map[timing.Phase]*nodeSpan{}, orch: map[string][]timing.Mark{},
	}
	for _, w := range res.Workers {
		if _, dup := f.spans[w.Node]; dup {
			continue
		}
		f.nodes = append(f.nodes, w.Node)
		f.clock[w.Node] = [2]time.Duration{w.ClockOffset, w.ClockError}
		f.spans[w.Node] = map[timing.Phase]*nodeSpan{}
	}
	for _, m := range res.Timeline.Marks {
		byPhase, ok := f.spans[m.Node]
		if !ok {
			f.orch[m.Node] = append(f.orch[m.Node], m)
			continue
		}
		f.marks[m.Node] = append(f.marks[m.Node], m)
		s := byPhase[m.Phase]
		if s == nil {
			s = &nodeSpan{node: m.Node, start: m.Start, end: m.End}
			byPhase[m.Phase] = s
		}
		s.start, s.end = min(s.start, m.Start), max(s.end, m.End)
		s.n++
		if m.Err != "" {
			if s.errs == 0 {
				s.firstErr = m.Err
			}
			s.errs++
		}
	}
	if st := res.Start; st != nil {
		f.signal = &timing.Mark{Phase: timing.CoordStart, Worker: timing.Process, Start: st.At, End: st.At}
		f.summary = timing.SummarizeFrom(res.Timeline, *f.signal)
	} else {
		f.summary = timing.Summarize(res.Timeline)
		f.signal = f.summary.Signal
	}
	return f
}

// firstQuery is when node's earliest first query started, if it ran one.
func (f *fleetOf) firstQuery(node string) (time.Duration, bool) {
	s := f.spans[node][timing.QueryFirst]
	if s == nil {
		return 0, false
	}
	return s.start, true
}

// buildFleet lays out the fleet view of res; nil unless res was merged
// from processes (res.Workers is set).
func buildFleet(res *loadtest.Result) *fleetView {
	if len(res.Workers) == 0 {
		return nil
	}
	f := readFleet(res)
	v := &fleetView{Nodes: len(f.nodes)}
	v.Waterfall = f.waterfall()
	if l := f.summary.Longest; l != nil {
		v.Critical = "Critical path to the first query: " + spanTitle(*l) + "."
	}
	v.Start = f.start()
	v.Details, v.DetailNote = f.details()
	return v
}

// waterfall lays out the fleet's waterfall: the orchestrator's rows, then
// one row per phase of the nodes'.
func (f *fleetOf) waterfall() waterfall {
	plotW := float64(chartWidth - labelWidth - 20 - noteWidth)
	wf := waterfall{Class: "fleet", Width: chartWidth, PlotX: labelWidth, PlotW: plotW, NoteX: labelWidth + plotW + 12,
		Top: axisHeight}
	var all []timing.Mark
	for _, ms := range f.marks {
		all = append(all, ms...)
	}
	for _, ms := range f.orch {
		all = append(all, ms...)
	}
	wf.Marks = len(all)
	if len(all) == 0 {
		wf.Height = axisHeight + rowHeight
		return wf
	}
	ax := startupAxis(all, wf.PlotX, wf.PlotX+wf.PlotW)
	wf.Clipped = ax.clipped
	wf.Ticks = ax.ticks
	longest := f.summary.Longest
	y := float64(axisHeight)
	addRow := func(r wfRow) {
		r.Y, r.Shade = y, len(wf.Rows)%2 == 0
		wf.Rows = append(wf.Rows, r)
		y += rowHeight
	}

	// The orchestrator's rows: each of its marks, as a node's waterfall
	// draws them, one row per phase. Marks of nodes without a result of
	// their own (a node lost before it wrote one) join them, so that the
	// rows do not grow with those nodes either.
	if len(f.orch) > 0 {
		head := "orchestrator"
		if len(f.orch) == 1 {
			for node := range f.orch {
				head = cmp.Or(node, head)
			}
		}
		addRow(wfRow{Label: head, Head: true})
		byPhase := map[timing.Phase][]timing.Mark{}
		for _, node := range slices.Sorted(maps.Keys(f.orch)) {
			for _, m := range f.orch[node] {
				byPhase[m.Phase] = append(byPhase[m.Phase], m)
			}
		}
		for _, p := range sortPhases(slices.Collect(maps.Keys(byPhase))) {
			wf.markRow(ax, y, byPhase[p], true, longest)
			addRow(wfRow{Label: string(p)})
		}
	}

	// The nodes' rows: one per phase.
	byPhase := map[timing.Phase][]nodeSpan{}
	for _, node := range f.nodes {
		for p, s := range f.spans[node] {
			byPhase[p] = append(byPhase[p], *s)
		}
	}
	addRow(wfRow{Label: fmt.Sprintf("%d nodes", len(f.nodes)), Head: true})
	for _, p := range sortPhases(slices.Collect(maps.Keys(byPhase))) {
		spans := byPhase[p]
		// By duration, so that the median and the slowest can be read off;
		// of equal spans the one that ended later is the slower.
		slices.SortFunc(spans, func(a, b nodeSpan) int {
			return cmp.Or(cmp.Compare(a.dur(), b.dur()), cmp.Compare(a.end, b.end), cmp.Compare(a.node, b.node))
		})
		first, last := spans[0].start, spans[0].end
		errs, firstErr := 0, ""
		for _, s := range spans {
			first, last = min(first, s.start), max(last, s.end)
			if s.errs > 0 && errs == 0 {
				firstErr = s.firstErr
			}
			errs += s.errs
		}
		med, slow := spans[(len(spans)-1)/2], spans[len(spans)-1]
		instant := slow.dur() == 0
		class := phaseClass(p)
		if errs > 0 {
			class += " err"
		}

		title := fmt.Sprintf("%s on %d of %d nodes: %s to %s", p, len(spans), len(f.nodes),
			timing.FormatDuration(first), timing.FormatDuration(last))
		if !instant {
			title += fmt.Sprintf("; per node min %s, median %s (%s), max %s (%s)",
				timing.FormatDuration(spans[0].dur()), timing.FormatDuration(med.dur()), med.node,
				timing.FormatDuration(slow.dur()), slow.node)
		}
		if errs > 0 {
			title += fmt.Sprintf("; %d errors, first: %s", errs, firstErr)
		}
		rng := ax.bar(&wf, first, last, y, rowHeight-4, class+" fl-range", title)
		wf.Bars = append(wf.Bars, rng)
		past := first >= time.Duration(ax.top) // a stub at the right end: the median would be another
		if instant && !past {
			wf.Instants = append(wf.Instants, wfInstant{X: ax.x.at(float64(med.start)), Y: y + rowHeight/2, Size: 5,
				Title: fmt.Sprintf("%s, median node %s: at %s", p, med.node, timing.FormatDuration(med.start))})
		} else if !past {
			wf.Bars = append(wf.Bars, ax.bar(&wf, med.start, med.end, y, rowHeight-4, class,
				fmt.Sprintf("%s, median node %s: %s, %s to %s", p, med.node, timing.FormatDuration(med.dur()),
					timing.FormatDuration(med.start), timing.FormatDuration(med.end))))
		}

		row := wfRow{Label: string(p)}
		crit := longest != nil && longest.Phase == p && longest.Worker == timing.Process && f.spans[longest.Node] != nil
		if crit {
			wf.Bars = append(wf.Bars, ax.bar(&wf, longest.Start, longest.End, y, rowHeight-4, class+" longest", spanTitle(*longest)))
			row.Crit = true
		}
		// The note, its node names cut to fit the column.
		for n := noteChars; ; n -= 2 {
			if instant {
				row.Note = "latest " + timing.FormatDuration(slow.start) + " on " + short(slow.node, n)
			} else {
				row.Note = "max " + timing.FormatDuration(slow.dur()) + " on " + short(slow.node, n)
			}
			if len(spans) < len(f.nodes) {
				row.Note = fmt.Sprintf("%d/%d · %s", len(spans), len(f.nodes), row.Note)
			}
			if errs > 0 {
				row.Note += fmt.Sprintf(" · %d err", errs)
			}
			if crit && longest.Node == slow.node {
				row.Note += ", critical"
			} else if crit {
				row.Note += " · critical " + short(longest.Node, n)
			}
			if len([]rune(row.Note)) <= noteChars || n <= 6 {
				break
			}
		}
		addRow(row)
	}
	wf.Bottom = y
	wf.Height = y + 8
	if f.signal != nil {
		wf.Signal = &tick{X: ax.x.at(float64(f.signal.Start)), Label: "T " + timing.FormatDuration(f.signal.Start)}
	}
	return wf
}

// sortPhases sorts phases in the registry's order, unknown ones by name.
func sortPhases(ps []timing.Phase) []timing.Phase {
	slices.SortFunc(ps, func(a, b timing.Phase) int { return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b)) })
	return ps
}

// short cuts a node name to n characters for a note: the tooltip and the node's details
// have it whole.
func short(node string, n int) string {
	if r := []rune(node); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return node
}

// rel formats an offset on the merged axis relative to T: "T+4.1ms",
// "T-89.2ms"; as an offset when there is no T.
func (f *fleetOf) rel(d time.Duration) string {
	if f.signal == nil {
		return timing.FormatDuration(d)
	}
	return relTo(d, f.signal.Start)
}

func relTo(d, t time.Duration) string {
	switch {
	case d == t:
		return "T"
	case d < t:
		return "T-" + timing.FormatDuration(t-d)
	}
	return "T+" + timing.FormatDuration(d-t)
}

// details lays out each node's <details>, slowest first.
func (f *fleetOf) details() ([]nodeDetail, string) {
	order := slices.Clone(f.nodes)
	slices.SortStableFunc(order, func(a, b string) int {
		fa, oka := f.firstQuery(a)
		fb, okb := f.firstQuery(b)
		switch {
		case !oka && !okb:
			return cmp.Compare(a, b)
		case !oka:
			return -1
		case !okb:
			return 1
		}
		return cmp.Or(cmp.Compare(fb, fa), cmp.Compare(a, b))
	})
	out := make([]nodeDetail, 0, len(order))
	for i, node := range order {
		var b strings.Builder
		b.WriteString(node)
		if at, ok := f.firstQuery(node); ok {
			b.WriteString(" · first query " + f.rel(at))
		} else {
			b.WriteString(" · no first query")
		}
		if s := f.spans[node][timing.CoordSeen]; s != nil {
			b.WriteString(" · saw T at " + f.rel(s.start))
		}
		c := f.clock[node]
		b.WriteString(" · clock offset " + timing.FormatDuration(c[0]) + " ± " + timing.FormatDuration(c[1]))
		tl := timing.Timeline{Marks: f.marks[node]}
		if l := timing.Summarize(tl).Longest; l != nil {
			b.WriteString(" · longest before its first query: " + string(l.Phase) + " " + timing.FormatDuration(l.Duration()))
		}
		d := nodeDetail{Line: b.String()}
		if i < fleetFull {
			wf := buildWaterfall(tl)
			d.Full = &wf
		} else {
			for _, p := range sortPhases(slices.Collect(maps.Keys(f.spans[node]))) {
				s := f.spans[node][p]
				r := nodeRow{Phase: string(p), Start: f.rel(s.start), Dur: timing.FormatDuration(s.dur())}
				if s.n > 1 {
					r.N = fmt.Sprintf("×%d", s.n)
				}
				if s.errs > 0 {
					r.Err = fmt.Sprintf("%d errors, first: %s", s.errs, s.firstErr)
				}
				d.Rows = append(d.Rows, r)
			}
		}
		out = append(out, d)
	}
	note := "Each node's startup, slowest first (the latest first query relative to T; nodes that ran none before all)."
	if len(order) > fleetFull {
		note += fmt.Sprintf(" The %d slowest have their full waterfall; the others a table of their phases.", fleetFull)
	}
	return out, note
}

// WriteFleetHTML writes the fleet view of res, a result merged from many
// processes (one with Workers), to w as an HTML fragment that a page can
// embed: a <style> element, the waterfall with one row per phase for the
// whole fleet (and the orchestrator's rows), the start across the fleet,
// and each node's startup in a collapsed <details>, as WriteHTML draws them
// for such a result. Its size does not depend on the number of nodes but
// for one <details> per node. It writes nothing for a result with no
// Workers. It loads nothing from the network and has no script; a page
// that updates can replace the fragment whole. Of a result still forming
// (a live run) it needs only Timeline, merged, its marks labelled with
// their Node, and Workers with each node's Node, ClockOffset and
// ClockError; Start, when set, gives T (else the earliest coord.start).
func WriteFleetHTML(w io.Writer, res *loadtest.Result) error {
	if res == nil {
		return errors.New("report: result is nil")
	}
	v := buildFleet(res)
	if v == nil {
		return nil
	}
	if err := page.ExecuteTemplate(w, "fleet-fragment", fragment{PhaseCSS: phaseCSS, Fleet: v}); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
