package report

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

type capacityPage struct {
	Title, Subtitle, Verdict, Conditions string
	Found                                bool
	PhaseCSS                             string // none: the page draws no phases
	Throughput, Latency                  chart
	Steps                                []capacityRow
}

type capacityRow struct {
	N                              int
	Kind, Offered, Achieved, Ratio string
	P50, P99                       time.Duration
	Errors                         int64
	Backlog, Verdict               string
	Pass                           bool
}

// WriteCapacityHTML writes a self-contained HTML page of a capacity search
// (loadtest.SearchCapacity) to w: achieved throughput against the offered
// rate, beside the line where the two are equal, and the latencies (p50,
// p99) against the offered rate, each step a dot (green passed, red
// failed) and the capacity found (the knee) marked; then the table of the
// steps in the order they ran. The page loads nothing from the network.
func WriteCapacityHTML(w io.Writer, c *loadtest.Capacity) error {
	if c == nil {
		return errors.New("report: nil capacity")
	}
	d := capacityPage{
		Title:      "startline: capacity search",
		Subtitle:   fmt.Sprintf("%d steps in %s, ended: %s", len(c.Steps), timing.FormatDuration(c.Elapsed), c.Ended),
		Conditions: strings.Join(c.Conditions, ", "),
		Found:      c.Knee >= 0,
	}
	switch {
	case c.Knee < 0:
		d.Verdict = fmt.Sprintf("No rate passed; the lowest tried, %.1f/s, failed.", c.FirstFail)
	case c.FirstFail == 0:
		d.Verdict = fmt.Sprintf("Capacity: at least %.1f/s (no rate tried failed).", c.MaxRate)
	default:
		d.Verdict = fmt.Sprintf("Capacity: %.1f/s, the highest rate that passed; %.1f/s failed.", c.MaxRate, c.FirstFail)
	}
	d.Throughput, d.Latency = capacityCharts(c)
	for i, st := range c.Steps {
		v := "pass"
		if !st.Pass {
			v = "FAIL: " + strings.Join(st.Failed, ", ")
		}
		d.Steps = append(d.Steps, capacityRow{
			N: i + 1, Kind: st.Kind, Pass: st.Pass, Verdict: v,
			Offered: strconv.FormatFloat(st.OfferedPerS, 'f', 1, 64), Achieved: strconv.FormatFloat(st.ThroughputPerS, 'f', 1, 64),
			Ratio: strconv.FormatFloat(100*st.AchievedRatio, 'f', 1, 64) + "%", P50: st.Latency.P50, P99: st.Latency.P99,
			Errors: st.Errors, Backlog: fmt.Sprintf("%d → %d", st.BacklogStart, st.BacklogEnd),
		})
	}
	if err := page.ExecuteTemplate(w, "capacity", d); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// capacityCharts draws the steps against the offered rate.
func capacityCharts(c *loadtest.Capacity) (tput, lat chart) {
	tput = newChart("Achieved against offered throughput (operations per second)")
	lat = newChart("Latency against offered rate (p50 and p99)")
	if len(c.Steps) == 0 {
		tput.Empty = "The search ran no step."
		lat.Empty = tput.Empty
		return tput, lat
	}
	steps := slices.Clone(c.Steps)
	slices.SortStableFunc(steps, func(a, b loadtest.CapacityStep) int { return cmp.Compare(a.OfferedPerS, b.OfferedPerS) })
	var maxO, maxT float64
	var maxL time.Duration
	for _, st := range steps {
		maxO, maxT = max(maxO, st.OfferedPerS), max(maxT, st.ThroughputPerS, st.OfferedPerS)
		maxL = max(maxL, st.Latency.P99)
	}
	xt, xtop := niceTicks(0, maxO, 8)
	rate := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, ch := range []*chart{&tput, &lat} {
		x := linear{0, xtop, ch.X0, ch.X1}
		for _, v := range xt {
			ch.XTicks = append(ch.XTicks, tick{X: x.at(v), Label: rate(v)})
		}
		ch.XLabel = "offered rate (operations per second)"
		if c.Knee >= 0 {
			kx := x.at(c.Steps[c.Knee].OfferedPerS)
			ch.Marks = []vmark{{X: kx, Label: "capacity " + strconv.FormatFloat(c.MaxRate, 'f', 1, 64) + "/s", Left: kx > ch.X1-140}}
		}
	}
	x := linear{0, xtop, tput.X0, tput.X1}
	yt := tput.yAxis(maxT, rate)
	yl := lat.yAxis(float64(maxL), func(v float64) string { return timing.FormatDuration(time.Duration(v)) })
	var ideal, ach, p50, p99 pathBuilder
	ideal.point(x.at(0), yt.at(0))
	ideal.point(x.at(min(xtop, yt.d1)), yt.at(min(xtop, yt.d1)))
	for _, st := range steps {
		px := x.at(st.OfferedPerS)
		ach.point(px, yt.at(st.ThroughputPerS))
		p50.point(px, yl.at(float64(st.Latency.P50)))
		p99.point(px, yl.at(float64(st.Latency.P99)))
		cls, verdict := "d-pass", "passed"
		if !st.Pass {
			cls, verdict = "d-fail", "failed: "+strings.Join(st.Failed, ", ")
		}
		title := fmt.Sprintf("offered %.1f/s, achieved %.1f/s, p99 %s: %s", st.OfferedPerS, st.ThroughputPerS,
			timing.FormatDuration(st.Latency.P99), verdict)
		tput.Dots = append(tput.Dots, dot{X: px, Y: yt.at(st.ThroughputPerS), Class: cls, Title: title})
		lat.Dots = append(lat.Dots, dot{X: px, Y: yl.at(float64(st.Latency.P99)), Class: cls, Title: title})
	}
	tput.Series = []series{
		{D: ach.String(), Class: "s-tput", Name: "achieved"},
		{D: ideal.String(), Class: "s-ideal", Name: "= offered"},
	}
	lat.Series = []series{
		{D: p50.String(), Class: "s-p50", Name: "p50"},
		{D: p99.String(), Class: "s-p99", Name: "p99"},
	}
	return tput, lat
}
