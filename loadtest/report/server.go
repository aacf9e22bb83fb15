package report

import (
	"fmt"
	"html/template"
	"maps"
	"slices"
	"time"

	"github.com/startline/startline/loadtest"
	"github.com/startline/startline/timing"
)

// The server's split: for a result whose pool keeps its own history of
// statements (loadtest.ServerSplit), one stacked bar per operation of the
// measured window, its mean time per statement cut into where it went,
// and a table of the parts' p50 and p99.

// serverView is the section's data.
type serverView struct {
	Width, Height float64
	Legend        []serverSegment // one per part, with its colour
	Bars          []serverBar
	Rows          []serverRow
	Notes         []string
}

type serverBar struct {
	Y        float64
	Label    string
	Total    string
	Segments []serverSegment
}

type serverSegment struct {
	X, Y, W float64
	Fill    string
	Name    string
	Title   string
}

type serverRow struct {
	Name                                  string
	Queries, Matched, CacheHits           int64
	Provisioning, Overload, Compile, Exec string
	Client, Other                         string
	Sampled                               bool
}

// serverFills colour the parts, in the order ServerSplit.Shares gives them.
var serverFills = []string{"#9c755f", "#e15759", "#f1ce63", "#59a14f", "#bab0ac", "#4e79a7"}

// Geometry of the bars.
const (
	serverLabelW = 170
	serverTotalW = 90
	serverRowH   = 26
	serverTop    = 34
)

// serverOf builds the section, or nil when res has no split.
func serverOf(res *loadtest.Result) *serverView {
	if res.Phases.Measure.Server == nil {
		return nil
	}
	v := &serverView{Width: chartWidth}
	names := slices.Sorted(maps.Keys(res.Operations))
	var top time.Duration
	for _, name := range names {
		var total time.Duration
		for _, sh := range res.Operations[name].Server.Shares() {
			total += sh.Mean
		}
		top = max(top, total)
	}
	x := linear{0, float64(max(top, 1)), serverLabelW, chartWidth - serverTotalW}
	pd := func(d loadtest.ServerDist) string {
		if d.N == 0 {
			return "-"
		}
		return timing.FormatDuration(d.P50) + " / " + timing.FormatDuration(d.P99)
	}
	for i, name := range names {
		sp := res.Operations[name].Server
		if sp == nil {
			continue
		}
		shares := sp.Shares()
		bar := serverBar{Y: serverTop + float64(i)*serverRowH, Label: name}
		var total, at time.Duration
		for _, sh := range shares {
			total += sh.Mean
		}
		for j, sh := range shares {
			seg := serverSegment{
				X: x.at(float64(at)), Y: bar.Y, W: x.at(float64(at+sh.Mean)) - x.at(float64(at)),
				Fill: serverFills[j], Name: sh.Name,
				Title: fmt.Sprintf("%s: %s: mean %s (%.0f%%)", name, sh.Name, timing.FormatDuration(sh.Mean), 100*float64(sh.Mean)/float64(max(total, 1))),
			}
			at += sh.Mean
			bar.Segments = append(bar.Segments, seg)
		}
		bar.Total = "mean " + timing.FormatDuration(total)
		if shares == nil {
			bar.Total = "nothing matched"
		}
		v.Bars = append(v.Bars, bar)
		other := "-"
		if len(shares) > 4 {
			other = timing.FormatDuration(shares[4].Mean)
		}
		v.Rows = append(v.Rows, serverRow{
			Name: name, Queries: sp.Queries, Matched: sp.Matched, CacheHits: sp.CacheHits,
			Provisioning: pd(sp.QueuedProvisioning), Overload: pd(sp.QueuedOverload),
			Compile: pd(sp.Compilation), Exec: pd(sp.Execution), Client: pd(sp.Client), Other: other,
			Sampled: sp.Sampled,
		})
	}
	for j, sh := range res.Phases.Measure.Server.Shares() {
		v.Legend = append(v.Legend, serverSegment{X: float64(serverLabelW + 150*j), Fill: serverFills[j], Name: sh.Name})
	}
	v.Height = serverTop + float64(len(v.Bars))*serverRowH + 8
	m := res.Phases.Measure.Server
	if m.Sampled {
		v.Notes = append(v.Notes, "Sampled: the history was read only up to its cap; matched counts what was read.")
	}
	if m.CacheHits > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("%d of %d statements were answered from the server's result cache: their latencies measure the cache, not the work.", m.CacheHits, m.Matched))
	}
	return v
}

// serverTemplate draws the section; it joins the page's templates.
const serverTemplate = `<h2>The server's split of each statement</h2>
<p class="note">From the server's own history of the statements, read after the run: the mean time of each operation's statements in the measured window, by where it went. Client is startline's latency less the server's elapsed time: the network, the driver and the harness.</p>
{{range .Notes}}<p class="note alert">{{.}}</p>{{end}}
<svg class="server" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="the server's split per operation">
<g class="legend">{{range .Legend}}<rect x="{{num .X}}" y="6" width="12" height="12" fill="{{.Fill}}"/><text x="{{num (add .X 16)}}" y="16">{{.Name}}</text>{{end}}</g>
{{range .Bars}}<text class="row-label" x="162" y="{{num (add .Y 15)}}">{{.Label}}</text>
{{range .Segments}}<rect x="{{num .X}}" y="{{num .Y}}" width="{{num .W}}" height="20" fill="{{.Fill}}"><title>{{.Title}}</title></rect>{{end}}
<text x="{{num (sub $.Width 86)}}" y="{{num (add .Y 15)}}">{{.Total}}</text>
{{end}}
</svg>
<table class="server" style="white-space: nowrap">
<tr><th>operation (measure)</th><th>queries</th><th>matched</th><th>cache hits</th><th>queued (provisioning)</th><th>queued (overload)</th><th>compilation</th><th>execution</th><th>other server (mean)</th><th>client</th></tr>
{{range .Rows}}<tr><td>{{.Name}}{{if .Sampled}} (sampled){{end}}</td><td>{{.Queries}}</td><td>{{.Matched}}</td><td>{{.CacheHits}}</td><td>{{.Provisioning}}</td><td>{{.Overload}}</td><td>{{.Compile}}</td><td>{{.Exec}}</td><td>{{.Other}}</td><td>{{.Client}}</td></tr>
{{end}}</table>
<p class="note">The table gives p50 / p99 of each part.</p>`

var _ = template.Must(page.New("server").Parse(serverTemplate))
