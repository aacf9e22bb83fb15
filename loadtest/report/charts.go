package report

import (
	"math"
	"strconv"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// Chart geometry.
const (
	chartHeight = 240
	plotLeft    = 70
	plotRight   = 20
	plotTop     = 24
	plotBottom  = 36
)

type series struct {
	D     string // path data
	Class string
	Name  string
}

type window struct {
	X, W  float64
	Class string
	Label string
}

// vmark is a vertical line across the plot with a label: the knee of a
// capacity search.
type vmark struct {
	X     float64
	Label string
	Left  bool // the label goes left of the line, not to run past the edge
}

// dot is one marked value, such as a capacity step.
type dot struct {
	X, Y  float64
	Class string
	Title string
}

type chart struct {
	Title         string
	Width, Height float64
	X0, X1        float64 // plot area
	Y0, Y1        float64 // plot area, top and bottom
	XTicks        []tick
	YTicks        []tick
	XLabel        string
	Series        []series
	Windows       []window
	Marks         []vmark
	Dots          []dot
	Empty         string // why there is nothing to plot, if so
}

func newChart(title string) chart {
	return chart{
		Title: title, Width: chartWidth, Height: chartHeight,
		X0: plotLeft, X1: chartWidth - plotRight, Y0: plotTop, Y1: chartHeight - plotBottom,
	}
}

// yAxis sets the value ticks for [0, hi] and returns the value scale.
func (c *chart) yAxis(hi float64, label func(float64) string) linear {
	ticks, top := niceTicks(0, hi, 5)
	y := linear{0, top, c.Y1, c.Y0}
	for _, v := range ticks {
		c.YTicks = append(c.YTicks, tick{Y: y.at(v), Label: label(v)})
	}
	return y
}

// timeCharts draws throughput and latency over the run from its intervals,
// with the warmup and measure windows shaded; for an arrival-rate run, the
// offered rate beside the achieved throughput, and the backlog (nil for a
// closed loop).
func timeCharts(res *loadtest.Result) (tput, lat chart, backlog *chart) {
	tput = newChart("Throughput (successful operations per second)")
	lat = newChart("Latency over time (p50 and p99)")
	ivs := res.Intervals
	if len(ivs) == 0 {
		tput.Empty = "This result has no intervals."
		lat.Empty = tput.Empty
		return tput, lat, nil
	}
	var end time.Duration
	var maxT, maxB float64
	var maxL time.Duration
	open := false
	for _, g := range byStart(ivs) {
		end = max(end, g.start+g.dur)
		maxT = max(maxT, g.tput, g.offered)
		maxB = max(maxB, float64(g.backlog))
		open = open || g.load
		if g.lat != nil {
			maxL = max(maxL, g.lat.P99)
		}
	}
	charts := []*chart{&tput, &lat}
	if open {
		tput.Title = "Offered and achieved throughput (operations per second)"
		b := newChart("Backlog (operations scheduled, not yet begun, at each interval's end)")
		backlog = &b
		charts = append(charts, backlog)
	}
	xt, xtop := niceTicks(0, end.Seconds(), 10)
	for _, c := range charts {
		x := linear{0, xtop, c.X0, c.X1}
		for _, v := range xt {
			c.XTicks = append(c.XTicks, tick{X: x.at(v), Label: seconds(v)})
		}
		c.XLabel = "time since the run's anchor"
		c.Windows = windows(res, x)
	}
	x := linear{0, xtop, tput.X0, tput.X1}
	yt := tput.yAxis(maxT, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
	yl := lat.yAxis(float64(maxL), func(v float64) string { return timing.FormatDuration(time.Duration(v)) })

	var pt, po, pb, p50, p99 pathBuilder
	var yb linear
	if backlog != nil {
		yb = backlog.yAxis(maxB, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
	}
	for _, g := range byStart(ivs) {
		mid := x.at((g.start + g.dur/2).Seconds())
		if g.dur > 0 { // a last, empty interval has no rate
			pt.point(mid, yt.at(g.tput))
			if g.load {
				po.point(mid, yt.at(g.offered))
				if g.over {
					tput.Dots = append(tput.Dots, dot{X: mid, Y: yt.at(g.tput), Class: "d-over",
						Title: "overloaded: achieved " + strconv.FormatFloat(g.tput, 'f', 1, 64) + "/s of " + strconv.FormatFloat(g.offered, 'f', 1, 64) + "/s offered"})
				}
			}
		}
		if g.load {
			pb.point(x.at((g.start + g.dur).Seconds()), yb.at(float64(g.backlog)))
		}
		if g.lat == nil { // no latency to show
			p50.gap()
			p99.gap()
			continue
		}
		p50.point(mid, yl.at(float64(g.lat.P50)))
		p99.point(mid, yl.at(float64(g.lat.P99)))
	}
	tput.Series = []series{{D: pt.String(), Class: "s-tput", Name: "throughput"}}
	if backlog != nil {
		tput.Series[0].Name = "achieved"
		tput.Series = append(tput.Series, series{D: po.String(), Class: "s-offered", Name: "offered"})
		backlog.Series = []series{{D: pb.String(), Class: "s-backlog", Name: "backlog"}}
	}
	lat.Series = []series{
		{D: p50.String(), Class: "s-p50", Name: "p50"},
		{D: p99.String(), Class: "s-p99", Name: "p99"},
	}
	return tput, lat, backlog
}

// point is one interval of the time charts.
type point struct {
	start, dur time.Duration
	tput       float64
	lat        *loadtest.Latency // nil when no operation succeeded
	// Arrival rate: the interval has a Load (load), what it offered, its
	// backlog at the end, and whether it was overloaded.
	load    bool
	offered float64
	backlog int64
	over    bool
}

// byStart folds the entries of one interval (one per phase, around the
// start of the measure window) into one point: their throughputs add up;
// since percentiles do not add, the latency is that of the entry with the
// most successful operations.
func byStart(ivs []loadtest.Interval) []point {
	var out []point
	var most int64
	for i := range ivs {
		iv := &ivs[i]
		if len(out) == 0 || out[len(out)-1].start != iv.Start {
			out = append(out, point{start: iv.Start, dur: iv.Duration})
			most = 0
		}
		p := &out[len(out)-1]
		p.dur = max(p.dur, iv.Duration)
		p.tput += iv.Throughput
		if l := iv.Load; l != nil {
			p.load, p.offered, p.backlog, p.over = true, p.offered+l.OfferedPerS, l.BacklogEnd, p.over || l.Overloaded
		}
		if ok := iv.Ops - iv.Errors; ok > most {
			p.lat, most = &iv.Latency, ok
		}
	}
	return out
}

// windows shades the warmup and measure windows: from the process's marks
// when there are, else from the intervals' phases.
func windows(res *loadtest.Result, x linear) []window {
	var out []window
	for _, ph := range []timing.Phase{timing.Warmup, timing.Measure} {
		var lo, hi time.Duration
		found := false
		add := func(s, e time.Duration) {
			if !found {
				lo, hi, found = s, e, true
			}
			lo, hi = min(lo, s), max(hi, e)
		}
		for _, m := range res.Timeline.Marks {
			if m.Phase == ph && m.Worker == timing.Process {
				add(m.Start, m.End)
			}
		}
		if !found {
			for _, iv := range res.Intervals {
				if iv.Phase == ph {
					add(iv.Start, iv.Start+iv.Duration)
				}
			}
		}
		if found && hi > lo {
			x0 := x.at(lo.Seconds())
			out = append(out, window{X: x0, W: x.at(hi.Seconds()) - x0, Class: "win-" + string(ph), Label: string(ph)})
		}
	}
	return out
}

// distChart draws the measured latency distribution as a percentile plot:
// latency against percentile on a scale of nines (50%, 90%, 99%, ...), so
// that the tail is as readable as the median.
func distChart(s loadtest.Stats) chart {
	c := newChart("Latency distribution (measure phase)")
	h := s.Histogram
	if h == nil || h.Count() == 0 {
		c.Empty = "No operation succeeded in the measure phase."
		return c
	}
	// nines(q) = -log10(1 - q/100): 0 at the median's left end, 1 at 90%.
	maxNines := max(1, math.Min(6, math.Ceil(math.Log10(float64(h.Count())))))
	x := linear{0, maxNines, c.X0, c.X1}
	for n := 0.0; n <= maxNines; n++ {
		q := 100 * (1 - math.Pow(10, -n))
		c.XTicks = append(c.XTicks, tick{X: x.at(n), Label: strconv.FormatFloat(q, 'f', max(0, int(n)-2), 64) + "%"})
	}
	c.XTicks[len(c.XTicks)-1].Anchor = "end" // not past the edge
	c.XLabel = "percentile"
	y := c.yAxis(float64(h.Quantile(100)), func(v float64) string { return timing.FormatDuration(time.Duration(v)) })
	var p pathBuilder
	const steps = 200
	for i := 0; i <= steps; i++ {
		n := maxNines * float64(i) / steps
		q := 100 * (1 - math.Pow(10, -n))
		if i == steps {
			q = 100
		}
		p.point(x.at(n), y.at(float64(h.Quantile(q))))
	}
	c.Series = []series{{D: p.String(), Class: "s-dist", Name: "latency"}}
	return c
}
