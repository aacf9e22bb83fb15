package report

import (
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

//go:embed report.html.tmpl
var pageSource string

//go:embed fleet.html.tmpl
var fleetSource string

//go:embed capacity.html.tmpl
var capacitySource string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"num": num,
	"dur": timing.FormatDuration,
	"add": func(a, b any) float64 { return float(a) + float(b) },
	"sub": func(a, b any) float64 { return float(a) - float(b) },
	"mul": func(a, b any) float64 { return float(a) * float(b) },
	"div": func(a, b any) float64 { return float(a) / float(b) },
}).Parse(pageSource + fleetSource + capacitySource))

// float converts the numbers a template holds, for arithmetic on
// coordinates.
func float(v any) float64 {
	switch v := v.(type) {
	case int:
		return float64(v)
	case float64:
		return v
	}
	panic(fmt.Sprintf("report: template arithmetic on %T", v)) // a bug in the template
}

type table struct {
	Header string
	Rows   []statsRow
}

type statsRow struct {
	Name                     string
	Ops, Errors              int64
	Throughput               string
	P50, P90, P99, P999, Max time.Duration
	ErrorKinds               []errorKind
}

type errorKind struct {
	Kind   string
	Count  int64
	Sample string
}

type threshold struct {
	Name, Value, Limit string
	OK                 bool
}

// thresholds formats res's checked thresholds: latencies as durations.
func thresholds(res *loadtest.Result) []threshold {
	var out []threshold
	for _, tr := range res.Thresholds {
		f := func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
		if th, err := loadtest.ParseThreshold(tr.Name); err == nil && latencyMetric[th.Metric] {
			f = func(v float64) string { return timing.FormatDuration(time.Duration(v)) }
		}
		out = append(out, threshold{Name: tr.Name, Value: f(tr.Value), Limit: f(tr.Limit), OK: tr.OK})
	}
	return out
}

var latencyMetric = map[string]bool{"p50": true, "p90": true, "p99": true, "p999": true, "max": true, "mean": true}

type section struct {
	Title      string
	Subtitle   string
	Stopped    string
	Error      string
	Waterfall  waterfall
	Throughput chart
	Latency    chart
	Backlog    *chart   // arrival rate only
	Overload   []string // arrival rate: each window or operation that did not keep up, in words
	Dist       chart
	Phases     table
	Ops        table
	Thresholds []threshold
	Fleet      *fleetView  // merged results only: instead of Waterfall
	Server     *serverView // a pool with a statement history only
}

type pageData struct {
	Title    string
	PhaseCSS template.CSS // see phaseCSS
	Sections []section
}

// fragment is WriteFleetHTML's data.
type fragment struct {
	PhaseCSS template.CSS
	Fleet    *fleetView
}

func row(name string, s loadtest.Stats) statsRow {
	r := statsRow{
		Name: name, Ops: s.Ops, Errors: s.Errors,
		Throughput: fmt.Sprintf("%.1f", s.Throughput),
		P50:        s.Latency.P50, P90: s.Latency.P90, P99: s.Latency.P99, P999: s.Latency.P999, Max: s.Latency.Max,
	}
	for _, k := range slices.Sorted(maps.Keys(s.ErrorsByKind)) {
		r.ErrorKinds = append(r.ErrorKinds, errorKind{Kind: k, Count: s.ErrorsByKind[k], Sample: s.ErrorSamples[k]})
	}
	return r
}

func buildSection(res *loadtest.Result) section {
	c := res.Config
	s := section{
		Title: "Run " + res.RunID,
		Subtitle: fmt.Sprintf("%s · started %s · %d workers, %d connections · warmup %s, measure %s",
			nodeName(res), res.StartedAt.UTC().Format(time.RFC3339), c.Workers, c.Conns,
			timing.FormatDuration(c.Warmup), timing.FormatDuration(c.Duration)),
		Stopped: res.Stopped,
		Error:   res.Error,
		Dist:    distChart(res.Phases.Measure),
		Phases:  table{Header: "phase", Rows: []statsRow{row("warmup", res.Phases.Warmup), row("measure", res.Phases.Measure)}},
		Ops:     table{Header: "operation (measure)"},
	}
	s.Throughput, s.Latency, s.Backlog = timeCharts(res)
	s.Overload = overloadNotes(res)
	s.Thresholds = thresholds(res)
	if s.Fleet = buildFleet(res); s.Fleet == nil {
		s.Waterfall = buildWaterfall(res.Timeline)
	}
	s.Server = serverOf(res)
	for _, name := range slices.Sorted(maps.Keys(res.Operations)) {
		s.Ops.Rows = append(s.Ops.Rows, row(name, res.Operations[name]))
	}
	return s
}

func nodeName(res *loadtest.Result) string {
	if res.Node == "" {
		return "merged result"
	}
	return "node " + res.Node
}

// WriteHTML writes a self-contained HTML report of results to w: one
// section per result, in order (see the package documentation for what a
// section shows). To report several processes of one run as one, merge
// their results first. The report loads nothing from the network.
func WriteHTML(w io.Writer, results ...*loadtest.Result) error {
	if len(results) == 0 {
		return errors.New("report: no results")
	}
	d := pageData{Title: "startline report", PhaseCSS: phaseCSS}
	for i, res := range results {
		if res == nil {
			return fmt.Errorf("report: results[%d] is nil", i)
		}
		d.Sections = append(d.Sections, buildSection(res))
	}
	if len(results) == 1 {
		d.Title = "startline: run " + results[0].RunID
	}
	if err := page.Execute(w, d); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// overloadNotes says, for an arrival-rate run, which windows and
// operations did not keep up with what they were offered.
func overloadNotes(res *loadtest.Result) []string {
	var out []string
	say := func(name string, s loadtest.Stats) {
		if s.Schedule == nil || !s.Overloaded {
			return
		}
		note := fmt.Sprintf("%s is overloaded: the system achieved %.1f/s of the %.1f/s offered (%.1f%%)",
			name, s.Throughput, s.OfferedPerS, 100*s.AchievedRatio)
		if grew := s.BacklogEnd - s.BacklogStart; grew > 0 {
			note += fmt.Sprintf(", and its backlog grew from %d to %d operations", s.BacklogStart, s.BacklogEnd)
		}
		out = append(out, note+"; latencies include the wait.")
	}
	say("The warmup", res.Phases.Warmup)
	say("The measured window", res.Phases.Measure)
	if len(res.Operations) > 1 {
		for _, name := range slices.Sorted(maps.Keys(res.Operations)) {
			say("Operation "+name, res.Operations[name])
		}
	}
	return out
}
